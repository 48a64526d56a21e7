import type { RouteHandler } from "@hono/zod-openapi";
import { Deadline } from "../../../core/deadline.ts";
import { bookAppointment, findBookingParties } from "../../../db/queries/appointments.ts";
import { assertActsAsSelf } from "../../auth/policy.ts";
import type { AppEnv } from "../../env.ts";
import { Idempotency } from "../../http/idempotency.ts";
import { creationRoute } from "../../http/openapi.ts";
import { etagOf } from "../../http/preconditions.ts";
import { type EligibilityOutcome, checkEligibility } from "../../insurance/eligibility.ts";
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

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
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
};
