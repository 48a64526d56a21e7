import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { findAppointment } from "../../../db/queries/appointments.ts";
import { ownedOrNotFound } from "../../auth/policy.ts";
import type { AppEnv } from "../../env.ts";
import { IdParam, commonErrors, notFound, versionedResponse } from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { AppointmentSchema, toAppointment } from "./schemas.ts";

const tags = ["appointments"];

export const route = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get an appointment",
  request: { params: IdParam },
  responses: { 200: versionedResponse(AppointmentSchema, "The appointment"), ...commonErrors, ...notFound },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const row = ownedOrNotFound(c, await findAppointment(c.var.requestDb, c.var.deadline, id), "Appointment", id);
  return c.json(toAppointment(row), 200, { ETag: etagOf(row.version) });
};
