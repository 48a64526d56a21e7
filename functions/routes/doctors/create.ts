import type { RouteHandler } from "@hono/zod-openapi";
import { insertDoctor } from "../../../db/queries/doctors.ts";
import type { AppEnv } from "../../env.ts";
import { rowFromJson } from "../../../db/json-rows.ts";
import { doctors, type DoctorRow } from "../../../db/schema/index.ts";
import { KeyedRequest, answer, type Created } from "../../http/idempotency.ts";
import { creationRoute } from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { CreateDoctorSchema, type Doctor, DoctorSchema, toDoctor } from "./schemas.ts";

export const route = creationRoute({
  tag: "doctors",
  operationId: "createDoctor",
  summary: "Register a doctor",
  body: CreateDoctorSchema,
  created: DoctorSchema,
  answer: "The new doctor",
});

function created(row: DoctorRow): Created<Doctor, 201> {
  return { status: 201, body: toDoctor(row), headers: { Location: `/doctors/${row.id}`, ETag: etagOf(row.version) } };
}

/** One round trip either way: a plain insert, or create_idempotently() with a key. */
export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const input = c.req.valid("json");
  const keyed = await KeyedRequest.of(c, "POST /doctors", input);
  if (keyed) return keyed.create(doctors, input, (stored) => created(rowFromJson(doctors, stored.row)));
  return answer(c, created(await insertDoctor(c.var.requestDb, c.var.deadline, input)));
};
