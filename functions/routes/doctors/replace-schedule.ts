import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { replaceSchedule } from "../../../db/queries/schedules.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { IdParam, bodyErrors, commonErrors, jsonBody, jsonResponse, notFound } from "../../http/openapi.ts";
import { invalidateDoctor } from "../../resilience/coalescer/client.ts";
import { ReplaceScheduleSchema, ScheduleSchema, toSchedule } from "./schedule-schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "put",
  path: "/{id}/schedule",
  tags,
  operationId: "replaceDoctorSchedule",
  summary: "Replace a doctor's weekly working hours",
  description: "Takes effect on availability immediately: the doctor's cached reads are invalidated before the answer.",
  request: { params: IdParam, body: jsonBody(ReplaceScheduleSchema) },
  responses: { 200: jsonResponse(ScheduleSchema, "The new schedule"), ...commonErrors, ...notFound, ...bodyErrors },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const rows = await replaceSchedule(c.var.requestDb, c.var.deadline, id, c.req.valid("json").intervals);
  if (!rows) throw new NotFoundError("Doctor", id);
  await invalidateDoctor(c, id);
  return c.json(toSchedule(id, rows), 200);
};
