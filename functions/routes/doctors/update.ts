import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { updateDoctor } from "../../../db/queries/doctors.ts";
import type { Updated } from "../../../db/queries/versions.ts";
import type { DoctorRow } from "../../../db/schema/index.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError, PreconditionFailedError } from "../../http/errors.ts";
import {
  IdParam,
  IfMatchHeaders,
  bodyErrors,
  commonErrors,
  jsonBody,
  notFound,
  preconditionErrors,
  versionedResponse,
} from "../../http/openapi.ts";
import { etagOf, requireIfMatch } from "../../http/preconditions.ts";
import { invalidateDoctor } from "../../resilience/coalescer/client.ts";
import { DoctorSchema, UpdateDoctorSchema, toDoctor } from "./schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  operationId: "updateDoctor",
  summary: "Change a doctor's name, specialty or active flag",
  description:
    "Requires If-Match with the doctor's ETag: a change made meanwhile by someone else is never overwritten (412).",
  request: { params: IdParam, headers: IfMatchHeaders, body: jsonBody(UpdateDoctorSchema) },
  responses: {
    200: versionedResponse(DoctorSchema, "The updated doctor"),
    ...commonErrors,
    ...notFound,
    ...preconditionErrors,
    ...bodyErrors,
  },
});

/** The updated doctor, or the error saying why there is none. */
export function updatedDoctor(id: string, result: Updated<DoctorRow>): DoctorRow {
  if (result.ok) return result.row;
  throw result.reason === "not-found" ? new NotFoundError("Doctor", id) : new PreconditionFailedError("Doctor", id);
}

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const precondition = requireIfMatch(c, "doctor");
  const row = updatedDoctor(
    id,
    await updateDoctor(c.var.requestDb, c.var.deadline, id, c.req.valid("json"), precondition),
  );
  await invalidateDoctor(c, id);
  return c.json(toDoctor(row), 200, { ETag: etagOf(row.version) });
};
