import { createRoute } from "@hono/zod-openapi";
import {
  bookAppointment, cancelAppointment, findAppointment, findBookingParties, listAppointments, type BookingRefusal,
} from "../../db/queries/appointments.ts";
import { assertActsAsSelf, ownedOrNotFound, ownershipApplies, scoped } from "../auth/policy.ts";
import { Deadline } from "../deadline.ts";
import { checkEligibility, type EligibilityOutcome } from "../eligibility/check.ts";
import { ConflictError, NotFoundError, UnprocessableError, type ApiError } from "../errors.ts";
import {
  IdParam, bodyErrors, commonErrors, conflict, jsonBody, jsonResponse, notFound, resourceApp, unprocessable,
} from "../openapi.ts";
import { InstantCursor, decodeCursor, paginate } from "../pagination.ts";
import { availabilityKeys, invalidateDoctor } from "../resilience/coalesce.ts";
import {
  AppointmentPage, AppointmentSchema, BookAppointmentSchema, BookedAppointmentSchema, ListAppointmentsQuery, MAX_LEAD_MS,
  toAppointment, toBookedAppointment,
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
    "and `eligibilityReason` saying why. `Server-Timing: breaker;desc=…, insurance;dur=…` reports the check.",
  request: { body: jsonBody(BookAppointmentSchema) },
  responses: {
    201: jsonResponse(BookedAppointmentSchema, "The booked appointment"),
    ...commonErrors,
    ...conflict,
    ...unprocessable,
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
  responses: { 200: jsonResponse(AppointmentSchema, "The appointment"), ...commonErrors, ...notFound },
});

const cancel = createRoute({
  method: "post",
  path: "/{id}/cancel",
  tags,
  summary: "Cancel an appointment",
  description: "Frees the slot. Cancelling a cancelled appointment returns it unchanged; a completed one is 409.",
  request: { params: IdParam },
  responses: {
    200: jsonResponse(AppointmentSchema, "The cancelled appointment"),
    ...commonErrors,
    ...notFound,
    ...conflict,
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
};

export const appointmentsApp = resourceApp()
  .openapi(book, async (c) => {
    const body = c.req.valid("json");
    assertActsAsSelf(c, body.patientId, "patientId");
    const startsAt = new Date(body.startsAt);
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
    const parties = await findBookingParties(c.var.requestDb, c.var.deadline, body.doctorId, body.patientId);
    if (!parties.ok) throw BOOKING_REFUSALS[parties.reason]();
    let eligibility: EligibilityOutcome | undefined;
    if (parties.insuranceMemberId !== null) {
      // Half of what is left: a slow insurer must not leave the booking's transaction without time.
      const check = Deadline.start(Math.floor(c.var.deadline.remaining() / 2), c.var.deadline.signal);
      eligibility = await checkEligibility(c, parties.insuranceMemberId, startsAt.toISOString().slice(0, 10), check);
    }
    const result = await bookAppointment(c.var.requestDb, c.var.deadline, {
      doctorId: body.doctorId,
      patientId: body.patientId,
      startsAt,
      endsAt: new Date(body.endsAt),
      eligibility: eligibility?.eligibility ?? null,
    });
    if (!result.ok) throw BOOKING_REFUSALS[result.reason]();
    await invalidateDoctor(c, body.doctorId, availabilityKeys(startsAt, result.appointment.endsAt));
    const reason = eligibility?.eligibility === "unknown" ? eligibility.reason : null;
    return c.json(toBookedAppointment(result.appointment, reason), 201, { Location: `/appointments/${result.appointment.id}` });
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
    return c.json(toAppointment(row), 200);
  })
  .openapi(cancel, async (c) => {
    const { id } = c.req.valid("param");
    // Someone else's appointment must stay untouched: check before writing (admins skip the read).
    if (ownershipApplies(c)) ownedOrNotFound(c, await findAppointment(c.var.requestDb, c.var.deadline, id), "Appointment", id);
    const result = await cancelAppointment(c.var.requestDb, c.var.deadline, id);
    if (result.ok) {
      const { doctorId, startsAt, endsAt } = result.appointment;
      await invalidateDoctor(c, doctorId, availabilityKeys(startsAt, endsAt));
      return c.json(toAppointment(result.appointment), 200);
    }
    if (result.reason === "not-found") throw new NotFoundError("Appointment", id);
    throw new ConflictError("A completed appointment cannot be cancelled", [
      { field: "id", in: "path", message: "appointment is completed" },
    ]);
  });
