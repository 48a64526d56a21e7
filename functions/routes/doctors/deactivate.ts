import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { updateDoctor } from "../../../db/queries/doctors.ts";
import type { AppEnv } from "../../env.ts";
import {
  IdParam,
  IfMatchHeaders,
  commonErrors,
  notFound,
  staleVersion,
  versionedResponse,
} from "../../http/openapi.ts";
import { etagOf, ifMatchOf } from "../../http/preconditions.ts";
import { invalidateDoctor } from "../../resilience/coalescer/client.ts";
import { DoctorSchema, toDoctor } from "./schemas.ts";
import { updatedDoctor } from "./update.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "post",
  path: "/{id}/deactivate",
  tags,
  operationId: "deactivateDoctor",
  summary: "Deactivate a doctor",
  description:
    "The doctor stays listed (active=false) with their history; new bookings are refused. " +
    "If-Match is optional here (deactivating twice changes nothing); when sent, it must match (412).",
  request: { params: IdParam, headers: IfMatchHeaders },
  responses: {
    200: versionedResponse(DoctorSchema, "The deactivated doctor"),
    ...commonErrors,
    ...notFound,
    ...staleVersion,
  },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const result = await updateDoctor(c.var.requestDb, c.var.deadline, id, { active: false }, ifMatchOf(c));
  const row = updatedDoctor(id, result);
  await invalidateDoctor(c, id);
  return c.json(toDoctor(row), 200, { ETag: etagOf(row.version) });
};
