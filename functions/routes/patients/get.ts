import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { findPatient } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { IdParam, commonErrors, notFound, versionedResponse } from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { PatientSchema, toPatient } from "./schemas.ts";

const tags = ["patients"];

export const route = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a patient",
  request: { params: IdParam },
  responses: { 200: versionedResponse(PatientSchema, "The patient"), ...commonErrors, ...notFound },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = await findPatient(c.var.requestDb, c.var.deadline, id);
  if (!row) throw new NotFoundError("Patient", id);
  return c.json(toPatient(row), 200, { ETag: etagOf(row.version) });
};
