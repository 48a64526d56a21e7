import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { findSchedule } from "../../../db/queries/schedules.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { conditionalGet } from "../../http/openapi.ts";
import { conditionalJson, etagOfContent } from "../../http/preconditions.ts";
import { ScheduleSchema, toSchedule } from "./schedule-schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "get",
  path: "/{id}/schedule",
  tags,
  operationId: "getDoctorSchedule",
  summary: "A doctor's weekly working hours (UTC)",
  description: "Its ETag is a digest of the schedule: If-None-Match answers 304 while it is unchanged.",
  ...conditionalGet(ScheduleSchema, "The schedule"),
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const rows = await findSchedule(c.var.requestDb, c.var.deadline, id);
  if (!rows) throw new NotFoundError("Doctor", id);
  const schedule = toSchedule(id, rows);
  return conditionalJson(c, schedule, await etagOfContent(schedule));
};
