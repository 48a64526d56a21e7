import type { RouteHandler } from "@hono/zod-openapi";
import { Deadline } from "../../../core/deadline.ts";
import { isLockTimeout } from "../../../db/errors.ts";
import { rowFromJson } from "../../../db/json-rows.ts";
import { bookAppointment, type BookingOutcome, type NewAppointment } from "../../../db/queries/appointments.ts";
import { appointments, type StoredAnswer } from "../../../db/schema/index.ts";
import { assertActsAsSelf } from "../../auth/policy.ts";
import type { AppEnv } from "../../env.ts";
import { KeyedRequest, answer, type Created } from "../../http/idempotency.ts";
import { creationRoute } from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { type UnknownReason, checkEligibility } from "../../insurance/eligibility.ts";
import { availabilityKeys, invalidateDoctor } from "../../resilience/coalescer/client.ts";
import { BOOKING_REFUSALS, checkLead } from "./rules.ts";
import {
  BookAppointmentSchema,
  type BookedAppointment,
  BookedAppointmentSchema,
  toBookedAppointment,
} from "./schemas.ts";

export const route = creationRoute({
  tag: "appointments",
  operationId: "bookAppointment",
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
  body: BookAppointmentSchema,
  created: BookedAppointmentSchema,
  answer: "The booked appointment",
});

/** The answer to a booking, from the row and what else it says; a replay is formatted the same way. */
function present(answer: StoredAnswer): Created<BookedAppointment, 201> {
  const appointment = rowFromJson(appointments, answer.row);
  const reason = (answer.context.eligibilityReason ?? null) as UnknownReason | null;
  return {
    status: 201,
    body: toBookedAppointment(appointment, reason),
    headers: { Location: `/appointments/${appointment.id}`, ETag: etagOf(appointment.version) },
  };
}

/**
 * One round trip to the database for most bookings: book_appointment() claims the key, checks the
 * rules and writes. A patient with an insurance member id is refused with "eligibility-needed"
 * first (nothing written); the insurer is asked, and the booking sent again with its answer.
 */
export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const body = c.req.valid("json");
  assertActsAsSelf(c, body.patientId, "patientId");
  const keyed = await KeyedRequest.of(c, "POST /appointments", body);
  const startsAt = new Date(body.startsAt);
  const endsAt = new Date(body.endsAt);
  try {
    checkLead(startsAt);
  } catch (err) {
    // A retry of a booking made when the slot was still ahead gets the first answer.
    const stored = await keyed?.stored(present);
    if (stored) return stored;
    throw err;
  }
  const input: NewAppointment = {
    doctorId: body.doctorId,
    patientId: body.patientId,
    startsAt,
    endsAt,
    maxUpcoming: c.var.config.maxUpcomingAppointments,
  };
  let context: { eligibilityReason: UnknownReason | null } = { eligibilityReason: null };
  for (;;) {
    let outcome: BookingOutcome;
    try {
      outcome = await bookAppointment(c.var.requestDb, c.var.deadline, input, context, keyed?.claim);
    } catch (err) {
      if (keyed && isLockTimeout(err)) throw keyed.stillRunning();
      throw err;
    }
    if (outcome.kind === "replay") return keyed!.replay(outcome.stored, present);
    if (outcome.kind === "refused") throw BOOKING_REFUSALS[outcome.reason](c);
    if (outcome.kind === "booked") {
      await invalidateDoctor(c, body.doctorId, availabilityKeys(startsAt, endsAt));
      const created = present(outcome.answer);
      return keyed ? keyed.answer(created) : answer(c, created);
    }
    if (input.eligibility !== undefined) throw new Error("book_appointment asked for eligibility twice");
    // Half of what is left: a slow insurer must not leave the booking's write without time.
    const check = Deadline.start(Math.floor(c.var.deadline.remaining() / 2), c.var.deadline.signal);
    const eligibility = await checkEligibility(
      c,
      outcome.insuranceMemberId,
      startsAt.toISOString().slice(0, 10),
      check,
    );
    input.eligibility = eligibility.eligibility;
    context = { eligibilityReason: eligibility.eligibility === "unknown" ? eligibility.reason : null };
  }
};
