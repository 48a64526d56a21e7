import type { RouteHandler } from "@hono/zod-openapi";
import { insertPatient } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { Idempotency } from "../../http/idempotency.ts";
import { creationRoute } from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { CreatePatientSchema, type Patient, PatientSchema, toPatient } from "./schemas.ts";

export const route = creationRoute({
  tag: "patients",
  operationId: "createPatient",
  summary: "Register a patient",
  body: CreatePatientSchema,
  created: PatientSchema,
  answer: "The new patient",
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const input = c.req.valid("json");
  const once = await Idempotency.begin<Patient, 201>(c, "POST /patients", input);
  if (once.replay) return once.replay;
  return once.create(async (db) => {
    const row = await insertPatient(db, c.var.deadline, input);
    return {
      status: 201,
      body: toPatient(row),
      headers: { Location: `/patients/${row.id}`, ETag: etagOf(row.version) },
    };
  });
};
