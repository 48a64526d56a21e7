import { createRoute } from "@hono/zod-openapi";
import { findSchedule, replaceSchedule } from "../../../db/queries/schedules.ts";
import { NotFoundError } from "../../http/errors.ts";
import {
  IdParam, bodyErrors, commonErrors, jsonBody, jsonResponse, notFound, resourceApp,
} from "../../http/openapi.ts";
import { coalesced, invalidateDoctor } from "../../resilience/coalescer/client.ts";
import {
  AvailabilityQuery, AvailabilitySchema, ReplaceScheduleSchema, ScheduleSchema, toSchedule,
} from "./schedule-schemas.ts";

const tags = ["doctors"];

const getSchedule = createRoute({
  method: "get",
  path: "/{id}/schedule",
  tags,
  summary: "A doctor's weekly working hours (UTC)",
  request: { params: IdParam },
  responses: { 200: jsonResponse(ScheduleSchema, "The schedule"), ...commonErrors, ...notFound },
});

const putSchedule = createRoute({
  method: "put",
  path: "/{id}/schedule",
  tags,
  summary: "Replace a doctor's weekly working hours",
  description: "Takes effect on availability immediately: the doctor's cached reads are invalidated before the answer.",
  request: { params: IdParam, body: jsonBody(ReplaceScheduleSchema) },
  responses: { 200: jsonResponse(ScheduleSchema, "The new schedule"), ...commonErrors, ...notFound, ...bodyErrors },
});

const availability = createRoute({
  method: "get",
  path: "/{id}/availability",
  tags,
  summary: "Free slots of a doctor on a day",
  description:
    "Working intervals of that weekday cut into slots, minus booked ones and ones already begun. " +
    "Served through the doctor's coalescer: concurrent requests share one load, cached for COALESCER_TTL_MS; " +
    "`Server-Timing: coalescer;desc=hit|coalesced|load|fallback` says which.",
  request: { params: IdParam, query: AvailabilityQuery },
  responses: { 200: jsonResponse(AvailabilitySchema, "The free slots"), ...commonErrors, ...notFound },
});

export const scheduleApp = resourceApp()
  .openapi(getSchedule, async (c) => {
    const { id } = c.req.valid("param");
    const rows = await findSchedule(c.var.requestDb, c.var.deadline, id);
    if (!rows) throw new NotFoundError("Doctor", id);
    return c.json(toSchedule(id, rows), 200);
  })
  .openapi(putSchedule, async (c) => {
    const { id } = c.req.valid("param");
    const rows = await replaceSchedule(c.var.requestDb, c.var.deadline, id, c.req.valid("json").intervals);
    if (!rows) throw new NotFoundError("Doctor", id);
    await invalidateDoctor(c, id);
    return c.json(toSchedule(id, rows), 200);
  })
  .openapi(availability, async (c) => {
    const { id } = c.req.valid("param");
    const { date } = c.req.valid("query");
    const value = await coalesced(c, { loader: "availability", doctorId: id, date });
    if (!value) throw new NotFoundError("Doctor", id);
    return c.json(value, 200);
  });
