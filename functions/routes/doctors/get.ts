import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { IdParam, commonErrors, notFound, versionedResponse } from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { coalesced } from "../../resilience/coalescer/client.ts";
import { DoctorSchema } from "./schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a doctor",
  description: "Served through the doctor's coalescer (see /doctors/{id}/availability).",
  request: { params: IdParam },
  responses: { 200: versionedResponse(DoctorSchema, "The doctor"), ...commonErrors, ...notFound },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const doctor = await coalesced(c, { loader: "doctor", doctorId: id });
  if (!doctor) throw new NotFoundError("Doctor", id);
  return c.json(doctor, 200, { ETag: etagOf(doctor.version) });
};
