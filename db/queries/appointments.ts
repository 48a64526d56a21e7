import { and, asc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import { z } from "zod";
import type { Deadline } from "../../core/deadline.ts";
import type { Precondition } from "../../core/precondition.ts";
import { satisfies } from "../../core/precondition.ts";
import { prepared, type Bound, type Queries, type RequestDb } from "../client.ts";
import { refusalOf } from "../errors.ts";
import { outcomeOf, rowFromJson } from "../json-rows.ts";
import {
  appointmentEvents,
  appointments,
  idempotencyKeys,
  type AppointmentEventRow,
  type AppointmentRow,
  type AppointmentStatus,
  type Eligibility,
  type IdempotencyKeyRow,
  type StoredAnswer,
} from "../schema/index.ts";
import { Replay, StoredAnswerShape, type KeyClaim } from "./idempotency.ts";
import { versionIs } from "./versions.ts";

export interface AppointmentFilter {
  doctorId?: string | undefined;
  patientId?: string | undefined;
  status?: AppointmentStatus | undefined;
  /** starts_at in [from, to) */
  from?: Date | undefined;
  to?: Date | undefined;
  after?: readonly [startsAt: Date, id: string] | undefined;
  limit: number;
}

const appointmentById = prepared("appointment_by_id", ["id"], (q, v: Bound<{ id: string }>) =>
  q.select().from(appointments).where(eq(appointments.id, v.id)),
);

export async function findAppointment(
  db: RequestDb,
  deadline: Deadline,
  id: string,
): Promise<AppointmentRow | undefined> {
  const [row] = await db.prepared(deadline, appointmentById, { id });
  return row;
}

export async function listAppointments(
  db: RequestDb,
  deadline: Deadline,
  f: AppointmentFilter,
): Promise<AppointmentRow[]> {
  const where: SQL | undefined = and(
    f.doctorId !== undefined ? eq(appointments.doctorId, f.doctorId) : undefined,
    f.patientId !== undefined ? eq(appointments.patientId, f.patientId) : undefined,
    f.status !== undefined ? eq(appointments.status, f.status) : undefined,
    f.from !== undefined ? gte(appointments.startsAt, f.from) : undefined,
    f.to !== undefined ? lt(appointments.startsAt, f.to) : undefined,
    f.after
      ? sql`(${appointments.startsAt}, ${appointments.id}) > (${f.after[0].toISOString()}::timestamptz, ${f.after[1]}::uuid)`
      : undefined,
  );
  return db.query(deadline, (q) =>
    q
      .select()
      .from(appointments)
      .where(where)
      .orderBy(asc(appointments.startsAt), asc(appointments.id))
      .limit(f.limit + 1),
  );
}

export interface NewAppointment {
  doctorId: string;
  patientId: string;
  startsAt: Date;
  endsAt: Date;
  /**
   * What the insurer said, once asked; undefined before that. Booking a patient who has an
   * insurance member id without it is refused with "eligibility-needed" (and the member id).
   */
  eligibility?: Eligibility | undefined;
  /** Scheduled appointments ahead the patient may hold; this booking is refused at that many. */
  maxUpcoming: number;
}

export type BookingRefusal =
  "doctor-not-found" | "doctor-inactive" | "patient-not-found" | "outside-hours" | "too-many-upcoming";

export type BookingOutcome =
  /** The row as stored with the key (to_jsonb) and the context: rowFromJson(appointments, answer.row). */
  | { kind: "booked"; answer: StoredAnswer }
  /** The key's outcome, stored by an earlier request (waited for when it was still running). */
  | { kind: "replay"; stored: IdempotencyKeyRow }
  | { kind: "refused"; reason: BookingRefusal }
  /** Ask the insurer about this member id, then book again with its answer. */
  | { kind: "eligibility-needed"; insuranceMemberId: string };

const BookingAnswer = z.union([Replay, z.object({ booked: StoredAnswerShape })]);

const BOOKING_REFUSALS = new Set<string>([
  "doctor-not-found",
  "doctor-inactive",
  "patient-not-found",
  "outside-hours",
  "too-many-upcoming",
]);

/**
 * Books in one statement, book_appointment() (drizzle/0007): with a key, its claim (waiting on a
 * concurrent first request), the doctor locked, the rules, the insert and the stored answer, in
 * one transaction: one round trip on the HTTP path. Overlaps are refused by the exclusion
 * constraint (23P01, mapped by the error layer); the history row is written by a trigger.
 * `context` is stored with the row for a replay to format the same answer.
 */
export async function bookAppointment(
  db: Queries,
  deadline: Deadline,
  input: NewAppointment,
  context: Record<string, unknown>,
  claim?: KeyClaim,
): Promise<BookingOutcome> {
  let result: unknown;
  try {
    result = await db.query(deadline, (q) =>
      q.execute(sql`SELECT book_appointment(
        ${input.doctorId}::uuid, ${input.patientId}::uuid,
        ${input.startsAt.toISOString()}::timestamptz, ${input.endsAt.toISOString()}::timestamptz,
        ${input.eligibility !== undefined}, ${input.eligibility ?? null}::eligibility, ${JSON.stringify(context)}::jsonb,
        ${input.maxUpcoming}::integer,
        ${claim?.caller ?? null}, ${claim?.scope ?? null}, ${claim?.key ?? null}, ${claim?.requestHash ?? null},
        ${claim?.ttlSeconds ?? null}::integer, ${claim?.waitMs ?? null}::integer
      ) AS outcome`),
    );
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal?.reason === "eligibility-needed" && refusal.detail !== undefined)
      return { kind: "eligibility-needed", insuranceMemberId: refusal.detail };
    if (refusal && BOOKING_REFUSALS.has(refusal.reason))
      return { kind: "refused", reason: refusal.reason as BookingRefusal };
    throw err;
  }
  const outcome = outcomeOf(result, BookingAnswer);
  if ("replay" in outcome) return { kind: "replay", stored: rowFromJson(idempotencyKeys, outcome.replay) };
  return { kind: "booked", answer: outcome.booked };
}

export type RescheduleRefusal = "not-found" | "stale" | "not-scheduled" | "doctor-inactive" | "outside-hours";

export type RescheduleResult =
  | { ok: true; appointment: AppointmentRow; previous: AppointmentRow }
  | { ok: false; reason: RescheduleRefusal; appointment?: AppointmentRow };

const RescheduleAnswer = z.union([
  z.object({ moved: z.record(z.string(), z.unknown()), previous: z.record(z.string(), z.unknown()) }),
  z.object({
    refused: z.enum(["not-found", "stale", "not-scheduled", "doctor-inactive", "outside-hours"]),
    current: z.record(z.string(), z.unknown()).nullable(),
  }),
]);

/**
 * Moves a scheduled appointment in one statement, reschedule_appointment() (drizzle/0007): the row
 * locked FOR UPDATE, its owner and its version against If-Match checked, the doctor locked and
 * their hours checked, the update; the exclusion constraint refuses an overlap with the doctor's
 * other appointments (23P01). One round trip on the HTTP path. `owner` limits it to one patient's
 * or doctor's appointments (someone else's is not found).
 */
export async function rescheduleAppointment(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  slot: { startsAt: Date; endsAt: Date },
  precondition: Precondition,
  owner: Owner = {},
): Promise<RescheduleResult> {
  const versions = precondition.any ? null : precondition.versions;
  const result = await db.query(deadline, (q) =>
    q.execute(sql`SELECT reschedule_appointment(
      ${id}::uuid, ${slot.startsAt.toISOString()}::timestamptz, ${slot.endsAt.toISOString()}::timestamptz,
      ${versions === null ? null : `{${versions.join(",")}}`}::integer[],
      ${owner.patientId ?? null}::uuid, ${owner.doctorId ?? null}::uuid
    ) AS outcome`),
  );
  const outcome = outcomeOf(result, RescheduleAnswer);
  if ("moved" in outcome) {
    return {
      ok: true,
      appointment: rowFromJson(appointments, outcome.moved),
      previous: rowFromJson(appointments, outcome.previous),
    };
  }
  return outcome.current
    ? { ok: false, reason: outcome.refused, appointment: rowFromJson(appointments, outcome.current) }
    : { ok: false, reason: outcome.refused };
}

/** Whose appointments a write may touch: one patient's, one doctor's, or (empty) anyone's. */
export interface Owner {
  patientId?: string | undefined;
  doctorId?: string | undefined;
}

/** The WHERE term limiting a statement to the owner's rows (someone else's then look missing). */
function ownedBy(owner: Owner): SQL | undefined {
  return and(
    owner.patientId !== undefined ? eq(appointments.patientId, owner.patientId) : undefined,
    owner.doctorId !== undefined ? eq(appointments.doctorId, owner.doctorId) : undefined,
  );
}

export type TransitionResult =
  | { ok: true; appointment: AppointmentRow; changed: boolean }
  | { ok: false; reason: "not-found" | "stale" | "conflict"; appointment?: AppointmentRow };

/**
 * Moves a scheduled appointment to `to` in one batch (one transaction, one round trip on the HTTP
 * path): the guarded update, then a read of the row, which sees the update when there was one and
 * otherwise says why not. An appointment already in `to` is returned unchanged (retrying is safe).
 */
async function transition(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  to: "cancelled" | "completed",
  precondition: Precondition | undefined,
  owner: Owner,
  extra?: SQL,
): Promise<TransitionResult> {
  const mine = and(eq(appointments.id, id), ownedBy(owner));
  const [[updated], [current]] = await db.batch(
    deadline,
    (q) =>
      [
        q
          .update(appointments)
          .set({ status: to })
          .where(and(mine, eq(appointments.status, "scheduled"), versionIs(appointments.version, precondition), extra))
          .returning(),
        q.select().from(appointments).where(mine),
      ] as const,
  );
  if (updated) return { ok: true, appointment: updated, changed: true };
  if (!current) return { ok: false, reason: "not-found" };
  if (!satisfies(precondition, current.version)) return { ok: false, reason: "stale", appointment: current };
  if (current.status === to) return { ok: true, appointment: current, changed: false };
  return { ok: false, reason: "conflict", appointment: current };
}

/** Cancels a scheduled appointment, which frees its slot; a completed one cannot be (conflict). */
export async function cancelAppointment(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  precondition?: Precondition,
  owner: Owner = {},
): Promise<TransitionResult> {
  return transition(db, deadline, id, "cancelled", precondition, owner);
}

/** Marks a scheduled appointment that has begun as completed (conflict: cancelled, or not begun yet). */
export async function completeAppointment(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  precondition?: Precondition,
  owner: Owner = {},
): Promise<TransitionResult> {
  return transition(db, deadline, id, "completed", precondition, owner, sql`${appointments.startsAt} <= now()`);
}

/** The appointment's parties and history, oldest first; undefined when the appointment does not exist. */
export async function appointmentHistory(
  db: RequestDb,
  deadline: Deadline,
  id: string,
): Promise<{ appointment: Pick<AppointmentRow, "patientId" | "doctorId">; events: AppointmentEventRow[] } | undefined> {
  const [[appointment], events] = await db.batch(
    deadline,
    (q) =>
      [
        q
          .select({ patientId: appointments.patientId, doctorId: appointments.doctorId })
          .from(appointments)
          .where(eq(appointments.id, id)),
        q
          .select()
          .from(appointmentEvents)
          .where(eq(appointmentEvents.appointmentId, id))
          .orderBy(asc(appointmentEvents.id)),
      ] as const,
  );
  return appointment ? { appointment, events } : undefined;
}
