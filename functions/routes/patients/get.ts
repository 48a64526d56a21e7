import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { findPatient } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { conditionalGet } from "../../http/openapi.ts";
import { conditionalJson, etagOf } from "../../http/preconditions.ts";
import { PatientSchema, toPatient } from "./schemas.ts";

const tags = ["patients"];

export const route = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  operationId: "getPatient",
  summary: "Get a patient",
  ...conditionalGet(PatientSchema, "The patient"),
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = await findPatient(c.var.requestDb, c.var.deadline, id);
  if (!row) throw new NotFoundError("Patient", id);
  return conditionalJson(c, toPatient(row), etagOf(row.version));
};
