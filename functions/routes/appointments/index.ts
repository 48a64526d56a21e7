import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  appointmentHistory, bookAppointment, cancelAppointment, completeAppointment, findAppointment, findBookingParties,
  listAppointments, rescheduleAppointment, type BookingRefusal, type RescheduleRefusal, type TransitionResult,
} from "../../../db/queries/appointments.ts";
import type { AppointmentRow } from "../../../db/schema/index.ts";
import { assertActsAsSelf, ownedOrNotFound, ownershipApplies, scoped } from "../../auth/policy.ts";
import { Deadline } from "../../../core/deadline.ts";
import { checkEligibility, type EligibilityOutcome } from "../../insurance/eligibility.ts";
import type { AppEnv } from "../../env.ts";
import {
  ConflictError, NotFoundError, PreconditionFailedError, UnprocessableError, type ApiError,
} from "../../http/errors.ts";
import { Idempotency } from "../../http/idempotency.ts";
import {
  IdParam, IdempotencyHeaders, IfMatchHeaders, bodyErrors, commonErrors, conflict, idempotencyErrors, jsonBody, jsonResponse,
  notFound, preconditionErrors, resourceApp, staleVersion, unprocessable, versionedResponse,
} from "../../http/openapi.ts";
import { InstantCursor, decodeCursor, paginate } from "../../http/pagination.ts";
import { etagOf, ifMatchOf, requireIfMatch } from "../../http/preconditions.ts";
import { availabilityKeys, invalidateDoctor } from "../../resilience/coalescer/client.ts";
import {
  AppointmentHistorySchema, AppointmentPage, AppointmentSchema, BookAppointmentSchema, BookedAppointmentSchema,
  ListAppointmentsQuery, MAX_LEAD_MS, RescheduleAppointmentSchema, toAppointment, toBookedAppointment, toHistory,
  type BookedAppointment,
} from "./schemas.ts";

const tags = ["appointments"];

const book = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Book an appointment",
  description:
    "The slot must be in the future (at most two years ahead), the doctor active and the patient known. " +
    "A slot overlapping another non-cancelled appointment of the doctor is refused by the database (409). " +
    "When the patient has an insurance member id, the insurer is asked whether the visit's date is covered " +
    "before the booking is written, with at most half of the request's remaining budget; if it cannot " +
    "answer (circuit breaker open, failure, too slow) the booking is still made, with `eligibility: unknown` " +
    "and `eligibilityReason` saying why. `Server-Timing: breaker;desc=…, insurance;dur=…` reports the check. " +
    "When the doctor has a weekly schedule, the slot must lie inside one of its working intervals (422). " +
    "Send an Idempotency-Key to make retries safe: the booking, its history entry and the stored answer " +
    "commit together, so a retry after a timeout or a lost connection books at most once.",
  request: { headers: IdempotencyHeaders, body: jsonBody(BookAppointmentSchema) },
  responses: {
    201: versionedResponse(BookedAppointmentSchema, "The booked appointment"),
    ...commonErrors,
    ...idempotencyErrors,
    ...bodyErrors,
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List appointments",
  description: "By doctor, patient, status and start time window, ordered by start time.",
  request: { query: ListAppointmentsQuery },
  responses: { 200: jsonResponse(AppointmentPage, "One page of appointments"), ...commonErrors },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get an appointment",
  request: { params: IdParam },
  responses: { 200: versionedResponse(AppointmentSchema, "The appointment"), ...commonErrors, ...notFound },
});

const reschedule = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
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

const complete = createRoute({
  method: "post",
  path: "/{id}/complete",
  tags,
  summary: "Mark an appointment as completed",
  description:
    "Only a scheduled appointment that has begun can be completed (409 otherwise); completing a completed one " +
    "returns it unchanged. If-Match is optional; when sent, it must match (412).",
  request: { params: IdParam, headers: IfMatchHeaders },
  responses: {
    200: versionedResponse(AppointmentSchema, "The completed appointment"),
    ...commonErrors,
    ...notFound,
    ...conflict,
    ...staleVersion,
  },
});

const history = createRoute({
  method: "get",
  path: "/{id}/history",
  tags,
  summary: "An appointment's history",
  description:
    "Every booking, reschedule, cancellation and completion, oldest first, each with the appointment's state " +
    "right after it. Written by the database in the same transaction as the change; never edited.",
  request: { params: IdParam },
  responses: { 200: jsonResponse(AppointmentHistorySchema, "The history"), ...commonErrors, ...notFound },
});

const cancel = createRoute({
  method: "post",
  path: "/{id}/cancel",
  tags,
  summary: "Cancel an appointment",
  description:
    "Frees the slot. Cancelling a cancelled appointment returns it unchanged; a completed one is 409. " +
    "If-Match is optional; when sent, it must match (412).",
  request: { params: IdParam, headers: IfMatchHeaders },
  responses: {
    200: versionedResponse(AppointmentSchema, "The cancelled appointment"),
    ...commonErrors,
    ...notFound,
    ...conflict,
    ...staleVersion,
  },
});

const BOOKING_REFUSALS: Record<BookingRefusal, () => ApiError> = {
  "doctor-not-found": () =>
    new UnprocessableError("The doctor does not exist", [{ field: "doctorId", in: "body", message: "no such doctor" }]),
  "doctor-inactive": () =>
    new UnprocessableError("The doctor is not taking appointments", [
      { field: "doctorId", in: "body", message: "doctor is inactive" },
    ]),
  "patient-not-found": () =>
    new UnprocessableError("The patient does not exist", [{ field: "patientId", in: "body", message: "no such patient" }]),
  "outside-hours": outsideHours,
};

function outsideHours(): ApiError {
  return new UnprocessableError("The slot is outside the doctor's working hours", [
    { field: "startsAt", in: "body", message: "is outside the doctor's working hours (GET /doctors/{id}/schedule)" },
  ]);
}

const RESCHEDULE_REFUSALS: Record<Exclude<RescheduleRefusal, "not-found" | "stale">, () => ApiError> = {
  "not-scheduled": () =>
    new ConflictError("Only a scheduled appointment can be rescheduled", [
      { field: "id", in: "path", message: "appointment is cancelled or completed" },
    ]),
  "doctor-inactive": () =>
    new UnprocessableError("The doctor is not taking appointments", [{ field: "id", in: "path", message: "doctor is inactive" }]),
  "outside-hours": outsideHours,
};

/**
 * Someone else's appointment must stay untouched: a patient's or doctor's write loads the row and
 * checks it is theirs first (404 otherwise, as if it did not exist); admins skip the read.
 */
async function assertOwnedBeforeWrite(c: Context<AppEnv>, id: string): Promise<void> {
  if (ownershipApplies(c)) ownedOrNotFound(c, await findAppointment(c.var.requestDb, c.var.deadline, id), "Appointment", id);
}

/** A new slot must be in the future and at most two years ahead (booking and rescheduling alike). */
function checkLead(startsAt: Date): void {
  const lead = startsAt.getTime() - Date.now();
  if (lead <= 0) {
    throw new UnprocessableError("Appointments can only be booked in the future", [
      { field: "startsAt", in: "body", message: "is in the past" },
    ]);
  }
  if (lead > MAX_LEAD_MS) {
    throw new UnprocessableError("Appointments can be booked at most two years ahead", [
      { field: "startsAt", in: "body", message: "is too far in the future" },
    ]);
  }
}

/** The transition's appointment, or the error saying why there is none; `conflict` explains a 409. */
function transitioned(id: string, result: TransitionResult, conflictDetail: (a: AppointmentRow) => ApiError): AppointmentRow {
  if (result.ok) return result.appointment;
  if (result.reason === "not-found") throw new NotFoundError("Appointment", id);
  if (result.reason === "stale") throw new PreconditionFailedError("Appointment", id);
  throw conflictDetail(result.appointment!);
}

/** The appointment's answer (with its ETag), after the doctor's cached reads of the touched days are dropped. */
async function answerChanged(c: Context<AppEnv>, appointment: AppointmentRow, touched: AppointmentRow[]) {
  const keys = touched.flatMap((a) => availabilityKeys(a.startsAt, a.endsAt));
  await invalidateDoctor(c, appointment.doctorId, keys);
  return c.json(toAppointment(appointment), 200, { ETag: etagOf(appointment.version) });
}

export const appointmentsApp = resourceApp()
  .openapi(book, async (c) => {
    const body = c.req.valid("json");
    assertActsAsSelf(c, body.patientId, "patientId");
    const once = await Idempotency.begin<BookedAppointment, 201>(c, "POST /appointments", body);
    if (once.replay) return once.replay;
    const startsAt = new Date(body.startsAt);
    checkLead(startsAt);
    const parties = await findBookingParties(c.var.requestDb, c.var.deadline, body.doctorId, body.patientId);
    if (!parties.ok) throw BOOKING_REFUSALS[parties.reason]();
    let eligibility: EligibilityOutcome | undefined;
    if (parties.insuranceMemberId !== null) {
      // Half of what is left: a slow insurer must not leave the booking's transaction without time.
      const check = Deadline.start(Math.floor(c.var.deadline.remaining() / 2), c.var.deadline.signal);
      eligibility = await checkEligibility(c, parties.insuranceMemberId, startsAt.toISOString().slice(0, 10), check);
    }
    const reason = eligibility?.eligibility === "unknown" ? eligibility.reason : null;
    const answer = await once.create(async (db) => {
      const result = await bookAppointment(db, c.var.deadline, {
        doctorId: body.doctorId,
        patientId: body.patientId,
        startsAt,
        endsAt: new Date(body.endsAt),
        eligibility: eligibility?.eligibility ?? null,
      });
      if (!result.ok) throw BOOKING_REFUSALS[result.reason]();
      const { appointment } = result;
      return {
        status: 201,
        body: toBookedAppointment(appointment, reason),
        headers: { Location: `/appointments/${appointment.id}`, ETag: etagOf(appointment.version) },
      };
    });
    await invalidateDoctor(c, body.doctorId, availabilityKeys(startsAt, new Date(body.endsAt)));
    return answer;
  })
  .openapi(list, async (c) => {
    const q = c.req.valid("query");
    const after = decodeCursor(q.cursor, InstantCursor);
    // A patient or doctor lists their own, whatever the query says; asking for someone else's is an empty page.
    const parties = scoped(c, { doctorId: q.doctorId, patientId: q.patientId });
    if (!parties) return c.json({ data: [], nextCursor: null }, 200);
    const rows = await listAppointments(c.var.requestDb, c.var.deadline, {
      ...parties,
      status: q.status,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
      after: after ? [new Date(after[0]), after[1]] : undefined,
      limit: q.limit,
    });
    return c.json(paginate(rows, q.limit, (a) => [a.startsAt.toISOString(), a.id] as const, toAppointment), 200);
  })
  .openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const row = ownedOrNotFound(c, await findAppointment(c.var.requestDb, c.var.deadline, id), "Appointment", id);
    return c.json(toAppointment(row), 200, { ETag: etagOf(row.version) });
  })
  .openapi(reschedule, async (c) => {
    const { id } = c.req.valid("param");
    // Whose it is first: another patient learns nothing, not even that If-Match is missing.
    await assertOwnedBeforeWrite(c, id);
    const precondition = requireIfMatch(c, "appointment");
    const body = c.req.valid("json");
    const slot = { startsAt: new Date(body.startsAt), endsAt: new Date(body.endsAt) };
    checkLead(slot.startsAt);
    const result = await rescheduleAppointment(c.var.requestDb, c.var.deadline, id, slot, precondition);
    if (result.ok) return answerChanged(c, result.appointment, [result.previous, result.appointment]);
    if (result.reason === "not-found") throw new NotFoundError("Appointment", id);
    if (result.reason === "stale") throw new PreconditionFailedError("Appointment", id);
    throw RESCHEDULE_REFUSALS[result.reason]();
  })
  .openapi(complete, async (c) => {
    const { id } = c.req.valid("param");
    await assertOwnedBeforeWrite(c, id);
    const result = await completeAppointment(c.var.requestDb, c.var.deadline, id, ifMatchOf(c));
    const appointment = transitioned(id, result, (a) =>
      a.status === "cancelled"
        ? new ConflictError("A cancelled appointment cannot be completed", [
            { field: "id", in: "path", message: "appointment is cancelled" },
          ])
        : new ConflictError("The appointment has not begun yet", [
            { field: "id", in: "path", message: `appointment starts at ${a.startsAt.toISOString()}` },
          ]),
    );
    return answerChanged(c, appointment, [appointment]);
  })
  .openapi(history, async (c) => {
    const { id } = c.req.valid("param");
    const history = await appointmentHistory(c.var.requestDb, c.var.deadline, id);
    ownedOrNotFound(c, history?.appointment, "Appointment", id);
    return c.json(toHistory(id, history!.events), 200);
  })
  .openapi(cancel, async (c) => {
    const { id } = c.req.valid("param");
    await assertOwnedBeforeWrite(c, id);
    const result = await cancelAppointment(c.var.requestDb, c.var.deadline, id, ifMatchOf(c));
    const appointment = transitioned(id, result, () =>
      new ConflictError("A completed appointment cannot be cancelled", [
        { field: "id", in: "path", message: "appointment is completed" },
      ]),
    );
    return answerChanged(c, appointment, [appointment]);
  });
