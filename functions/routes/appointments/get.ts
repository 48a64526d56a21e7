import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { findAppointment } from "../../../db/queries/appointments.ts";
import { ownedOrNotFound } from "../../auth/policy.ts";
import type { AppEnv } from "../../env.ts";
import { conditionalGet } from "../../http/openapi.ts";
import { conditionalJson, etagOf } from "../../http/preconditions.ts";
import { AppointmentSchema, toAppointment } from "./schemas.ts";

const tags = ["appointments"];

export const route = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  operationId: "getAppointment",
  summary: "Get an appointment",
  ...conditionalGet(AppointmentSchema, "The appointment"),
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = ownedOrNotFound(c, await findAppointment(c.var.requestDb, c.var.deadline, id), "Appointment", id);
  return conditionalJson(c, toAppointment(row), etagOf(row.version));
};
