import type { RouteHandler } from "@hono/zod-openapi";
import { insertDoctor } from "../../../db/queries/doctors.ts";
import type { AppEnv } from "../../env.ts";
import { Idempotency } from "../../http/idempotency.ts";
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

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const input = c.req.valid("json");
  const once = await Idempotency.begin<Doctor, 201>(c, "POST /doctors", input);
  if (once.replay) return once.replay;
  return once.create(async (db) => {
    const row = await insertDoctor(db, c.var.deadline, input);
    return { status: 201, body: toDoctor(row), headers: { Location: `/doctors/${row.id}`, ETag: etagOf(row.version) } };
  });
};
