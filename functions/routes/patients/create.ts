import type { RouteHandler } from "@hono/zod-openapi";
import { insertPatient } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { rowFromJson } from "../../../db/json-rows.ts";
import { patients, type PatientRow } from "../../../db/schema/index.ts";
import { KeyedRequest, answer, type Created } from "../../http/idempotency.ts";
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

function created(row: PatientRow): Created<Patient, 201> {
  return { status: 201, body: toPatient(row), headers: { Location: `/patients/${row.id}`, ETag: etagOf(row.version) } };
}

/** One round trip either way: a plain insert, or create_idempotently() with a key. */
export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const input = c.req.valid("json");
  const keyed = await KeyedRequest.of(c, "POST /patients", input);
  if (keyed) return keyed.create(patients, input, (stored) => created(rowFromJson(patients, stored.row)));
  return answer(c, created(await insertPatient(c.var.requestDb, c.var.deadline, input)));
};
