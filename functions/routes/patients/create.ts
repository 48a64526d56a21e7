import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { insertPatient } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { Idempotency } from "../../http/idempotency.ts";
import {
  IdempotencyHeaders,
  bodyErrors,
  commonErrors,
  idempotencyErrors,
  jsonBody,
  versionedResponse,
} from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { CreatePatientSchema, type Patient, PatientSchema, toPatient } from "./schemas.ts";

const tags = ["patients"];

export const route = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Register a patient",
  request: { headers: IdempotencyHeaders, body: jsonBody(CreatePatientSchema) },
  responses: {
    201: versionedResponse(PatientSchema, "The new patient"),
    ...commonErrors,
    ...idempotencyErrors,
    ...bodyErrors,
  },
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
