import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { findSchedule } from "../../../db/queries/schedules.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { IdParam, commonErrors, jsonResponse, notFound } from "../../http/openapi.ts";
import { ScheduleSchema, toSchedule } from "./schedule-schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "get",
  path: "/{id}/schedule",
  tags,
  summary: "A doctor's weekly working hours (UTC)",
  request: { params: IdParam },
  responses: { 200: jsonResponse(ScheduleSchema, "The schedule"), ...commonErrors, ...notFound },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const rows = await findSchedule(c.var.requestDb, c.var.deadline, id);
  if (!rows) throw new NotFoundError("Doctor", id);
  return c.json(toSchedule(id, rows), 200);
};
