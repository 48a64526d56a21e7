import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { rescheduleAppointment } from "../../../db/queries/appointments.ts";
import type { AppEnv } from "../../env.ts";
import { NotFoundError, PreconditionFailedError } from "../../http/errors.ts";
import {
  IdParam,
  IfMatchHeaders,
  bodyErrors,
  commonErrors,
  conflict,
  jsonBody,
  notFound,
  preconditionErrors,
  unprocessable,
  versionedResponse,
} from "../../http/openapi.ts";
import { ifMatchOf, requireIfMatch } from "../../http/preconditions.ts";
import { RESCHEDULE_REFUSALS, answerChanged, assertOwnedBeforeWrite, checkLead, writeOwner } from "./rules.ts";
import { AppointmentSchema, RescheduleAppointmentSchema } from "./schemas.ts";

const tags = ["appointments"];

export const route = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  operationId: "rescheduleAppointment",
  summary: "Reschedule an appointment",
  description:
    "Moves a scheduled appointment to a new slot under the booking's rules (future, inside the doctor's " +
    "working hours, no overlap: 409). Requires If-Match with the appointment's ETag (412 when it changed " +
    "meanwhile, 428 without it). The old slot is free again once this succeeds.",
  request: { params: IdParam, headers: IfMatchHeaders, body: jsonBody(RescheduleAppointmentSchema) },
  responses: {
    200: versionedResponse(AppointmentSchema, "The rescheduled appointment"),
    ...commonErrors,
    ...notFound,
    ...conflict,
    ...preconditionErrors,
    ...unprocessable,
    ...bodyErrors,
  },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  // Whose it is first: another patient learns nothing, not even that If-Match is missing. With
  // If-Match, reschedule_appointment() checks the owner in the same statement (one round trip).
  if (!ifMatchOf(c)) await assertOwnedBeforeWrite(c, id);
  const precondition = requireIfMatch(c, "appointment");
  const owner = await writeOwner(c, id);
  const body = c.req.valid("json");
  const slot = { startsAt: new Date(body.startsAt), endsAt: new Date(body.endsAt) };
  checkLead(slot.startsAt);
  const result = await rescheduleAppointment(c.var.requestDb, c.var.deadline, id, slot, precondition, owner);
  if (result.ok) return answerChanged(c, result.appointment, [result.previous, result.appointment]);
  if (result.reason === "not-found") throw new NotFoundError("Appointment", id);
  if (result.reason === "stale") throw new PreconditionFailedError("Appointment", id);
  throw RESCHEDULE_REFUSALS[result.reason]();
};
