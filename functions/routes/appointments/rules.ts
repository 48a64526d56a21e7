import type { Context } from "hono";
import type { BookingRefusal, Owner, RescheduleRefusal, TransitionResult } from "../../../db/queries/appointments.ts";
import { findAppointment } from "../../../db/queries/appointments.ts";
import type { AppointmentRow } from "../../../db/schema/index.ts";
import { ownedOrNotFound, ownerScope, ownershipApplies } from "../../auth/policy.ts";
import type { AppEnv } from "../../env.ts";
import {
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  UnprocessableError,
  type ApiError,
} from "../../http/errors.ts";
import { etagOf } from "../../http/preconditions.ts";
import { availabilityKeys, invalidateDoctor } from "../../resilience/coalescer/client.ts";
import { MAX_LEAD_MS, toAppointment } from "./schemas.ts";

/** The booking rules and answers the appointment operations share. */

export const BOOKING_REFUSALS: Record<BookingRefusal, (c: Context<AppEnv>) => ApiError> = {
  "doctor-not-found": () =>
    new UnprocessableError("The doctor does not exist", [{ field: "doctorId", in: "body", message: "no such doctor" }]),
  "doctor-inactive": () =>
    new UnprocessableError("The doctor is not taking appointments", [
      { field: "doctorId", in: "body", message: "doctor is inactive" },
    ]),
  "patient-not-found": () =>
    new UnprocessableError("The patient does not exist", [
      { field: "patientId", in: "body", message: "no such patient" },
    ]),
  "outside-hours": outsideHours,
  "too-many-upcoming": (c) => {
    const most = c.var.config.maxUpcomingAppointments;
    return new ConflictError(`The patient already holds ${most} upcoming appointments, the most allowed`, [
      { field: "patientId", in: "body", message: `has ${most} upcoming appointments (MAX_UPCOMING_APPOINTMENTS)` },
    ]);
  },
};

function outsideHours(): ApiError {
  return new UnprocessableError("The slot is outside the doctor's working hours", [
    { field: "startsAt", in: "body", message: "is outside the doctor's working hours (GET /doctors/{id}/schedule)" },
  ]);
}

export const RESCHEDULE_REFUSALS: Record<Exclude<RescheduleRefusal, "not-found" | "stale">, () => ApiError> = {
  "not-scheduled": () =>
    new ConflictError("Only a scheduled appointment can be rescheduled", [
      { field: "id", in: "path", message: "appointment is cancelled or completed" },
    ]),
  "doctor-inactive": () =>
    new UnprocessableError("The doctor is not taking appointments", [
      { field: "id", in: "path", message: "doctor is inactive" },
    ]),
  "outside-hours": outsideHours,
};

/**
 * Someone else's appointment must stay untouched: a patient's or doctor's write loads the row and
 * checks it is theirs first (404 otherwise, as if it did not exist); admins skip the read.
 */
export async function assertOwnedBeforeWrite(c: Context<AppEnv>, id: string): Promise<void> {
  if (ownershipApplies(c))
    ownedOrNotFound(c, await findAppointment(c.var.requestDb, c.var.deadline, id), "Appointment", id);
}

/**
 * Whose appointments this write may touch, for a statement that checks it in the same round trip
 * (someone else's is then "not found", the same 404). Without a principal there is no owner to
 * pass: the row is read first, and the answer is the 404.
 */
export async function writeOwner(c: Context<AppEnv>, id: string): Promise<Owner> {
  if (!c.var.principal) await assertOwnedBeforeWrite(c, id);
  return ownerScope(c);
}

/** A new slot must be in the future and at most two years ahead (booking and rescheduling alike). */
export function checkLead(startsAt: Date): void {
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
export function transitioned(
  id: string,
  result: TransitionResult,
  conflictDetail: (a: AppointmentRow) => ApiError,
): AppointmentRow {
  if (result.ok) return result.appointment;
  if (result.reason === "not-found") throw new NotFoundError("Appointment", id);
  if (result.reason === "stale") throw new PreconditionFailedError("Appointment", id);
  throw conflictDetail(result.appointment!);
}

/** The appointment's answer (with its ETag), after the doctor's cached reads of the touched days are dropped. */
export async function answerChanged(c: Context<AppEnv>, appointment: AppointmentRow, touched: AppointmentRow[]) {
  const keys = touched.flatMap((a) => availabilityKeys(a.startsAt, a.endsAt));
  await invalidateDoctor(c, appointment.doctorId, keys);
  return c.json(toAppointment(appointment), 200, { ETag: etagOf(appointment.version) });
}
