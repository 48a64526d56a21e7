import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { updatePatient } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError, PreconditionFailedError } from "../../http/errors.ts";
import {
  IdParam,
  IfMatchHeaders,
  bodyErrors,
  commonErrors,
  conflict,
  jsonBody,
  notFound,
  preconditionErrors,
  versionedResponse,
} from "../../http/openapi.ts";
import { etagOf, requireIfMatch } from "../../http/preconditions.ts";
import { PatientSchema, UpdatePatientSchema, toPatient } from "./schemas.ts";

const tags = ["patients"];

export const route = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  operationId: "updatePatient",
  summary: "Change a patient's details",
  description:
    "Requires If-Match with the patient's ETag: a change made meanwhile by someone else is never overwritten (412).",
  request: { params: IdParam, headers: IfMatchHeaders, body: jsonBody(UpdatePatientSchema) },
  responses: {
    200: versionedResponse(PatientSchema, "The updated patient"),
    ...commonErrors,
    ...notFound,
    ...conflict,
    ...preconditionErrors,
    ...bodyErrors,
  },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const precondition = requireIfMatch(c, "patient");
  const result = await updatePatient(c.var.requestDb, c.var.deadline, id, c.req.valid("json"), precondition);
  if (!result.ok)
    throw result.reason === "not-found" ? new NotFoundError("Patient", id) : new PreconditionFailedError("Patient", id);
  return c.json(toPatient(result.row), 200, { ETag: etagOf(result.row.version) });
};
