import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { appointmentHistory } from "../../../db/queries/appointments.ts";
import { ownedOrNotFound } from "../../auth/policy.ts";
import type { AppEnv } from "../../env.ts";
import { IdParam, commonErrors, jsonResponse, notFound } from "../../http/openapi.ts";
import { AppointmentHistorySchema, toHistory } from "./schemas.ts";

const tags = ["appointments"];

export const route = createRoute({
  method: "get",
  path: "/{id}/history",
  tags,
  operationId: "getAppointmentHistory",
  summary: "An appointment's history",
  description:
    "Every booking, reschedule, cancellation and completion, oldest first, each with the appointment's state " +
    "right after it. Written by the database in the same transaction as the change; never edited.",
  request: { params: IdParam },
  responses: { 200: jsonResponse(AppointmentHistorySchema, "The history"), ...commonErrors, ...notFound },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const history = await appointmentHistory(c.var.requestDb, c.var.deadline, id);
  ownedOrNotFound(c, history?.appointment, "Appointment", id);
  return c.json(toHistory(id, history!.events, c.var.principal?.role === "admin"), 200);
};
