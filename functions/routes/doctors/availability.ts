import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { IdParam, commonErrors, jsonResponse, notFound } from "../../http/openapi.ts";
import { coalesced } from "../../resilience/coalescer/client.ts";
import { AvailabilityQuery, AvailabilitySchema } from "./schedule-schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "get",
  path: "/{id}/availability",
  tags,
  operationId: "getDoctorAvailability",
  summary: "Free slots of a doctor on a day",
  description:
    "Working intervals of that weekday cut into slots, minus booked ones and ones already begun. " +
    "Served through the doctor's coalescer: concurrent requests share one load, cached for COALESCER_TTL_MS; " +
    "`Server-Timing: coalescer;desc=hit|coalesced|load|fallback` says which.",
  request: { params: IdParam, query: AvailabilityQuery },
  responses: { 200: jsonResponse(AvailabilitySchema, "The free slots"), ...commonErrors, ...notFound },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { date } = c.req.valid("query");
  const value = await coalesced(c, { loader: "availability", doctorId: id, date });
  if (!value) throw new NotFoundError("Doctor", id);
  return c.json(value, 200);
};
