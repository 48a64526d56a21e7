import { and, asc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import type { Deadline } from "../../core/deadline.ts";
import type { Precondition } from "../../core/precondition.ts";
import { satisfies } from "../../core/precondition.ts";
import { prepared, type Bound, type Database, type Queries, type RequestDb } from "../client.ts";
import {
  appointmentEvents,
  appointments,
  doctors,
  patients,
  type AppointmentEventRow,
  type AppointmentRow,
  type AppointmentStatus,
  type Eligibility,
} from "../schema/index.ts";
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
  /** Null: the patient has no insurance member id, nothing was asked. */
  eligibility: Eligibility | null;
}

export type BookingRefusal = "doctor-not-found" | "doctor-inactive" | "patient-not-found" | "outside-hours";

export type BookingResult = { ok: true; appointment: AppointmentRow } | { ok: false; reason: BookingRefusal };

export type BookingParties = { ok: true; insuranceMemberId: string | null } | { ok: false; reason: BookingRefusal };

/**
 * What a booking needs to know before its transaction: whether it would be refused, and the
 * patient's insurance member id (the eligibility question is asked outside the transaction, so no
 * transaction stays open across a call to the insurer). One batch: one round trip on the HTTP path.
 * The transaction checks the doctor and patient again under its locks.
 */
export async function findBookingParties(
  db: RequestDb,
  deadline: Deadline,
  doctorId: string,
  patientId: string,
): Promise<BookingParties> {
  const [[doctor], [patient]] = await db.batch(
    deadline,
    (q) =>
      [
        q.select({ active: doctors.active }).from(doctors).where(eq(doctors.id, doctorId)),
        q.select({ insuranceMemberId: patients.insuranceMemberId }).from(patients).where(eq(patients.id, patientId)),
      ] as const,
  );
  if (!doctor) return { ok: false, reason: "doctor-not-found" };
  if (!doctor.active) return { ok: false, reason: "doctor-inactive" };
  if (!patient) return { ok: false, reason: "patient-not-found" };
  return { ok: true, insuranceMemberId: patient.insuranceMemberId };
}

/**
 * True when [startsAt, endsAt) lies inside one of the doctor's working intervals for that (UTC)
 * weekday, or when the doctor has no schedule at all (then any time is bookable).
 */
function withinWorkingHours(doctorId: string, startsAt: Date, endsAt: Date): SQL<boolean> {
  const start = sql`(${startsAt.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
  const end = sql`(${endsAt.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
  return sql<boolean>`(
    NOT EXISTS (SELECT 1 FROM doctor_schedules WHERE doctor_id = ${doctorId}::uuid)
    OR EXISTS (
      SELECT 1 FROM doctor_schedules s
      WHERE s.doctor_id = ${doctorId}::uuid
        AND s.weekday = extract(dow FROM ${start})
        AND ${start}::date + s.starts_at <= ${start}
        AND ${start}::date + s.ends_at >= ${end}
    )
  )`;
}

/**
 * The doctor, locked for the rest of the transaction, and whether the slot is inside their working
 * hours. FOR NO KEY UPDATE serialises the bookings and reschedules of one doctor: two overlapping
 * inserts that ran at once would each wait on the other's exclusion-constraint entry (a deadlock
 * Postgres breaks by aborting one, 40P01); one after the other, the second gets a clean 23P01
 * (409). It also makes a concurrent deactivation wait for the booking, or the booking for it. The
 * lock does not conflict with the FOR KEY SHARE of foreign-key checks, so nothing else waits.
 */
async function lockDoctorFor(tx: Database, doctorId: string, startsAt: Date, endsAt: Date) {
  const [doctor] = await tx
    .select({ active: doctors.active, inHours: withinWorkingHours(doctorId, startsAt, endsAt) })
    .from(doctors)
    .where(eq(doctors.id, doctorId))
    .for("no key update");
  return doctor;
}

/**
 * Books in one transaction (run's; joins the caller's when it has one). Overlaps are refused by
 * the database's exclusion constraint, which surfaces as SQLSTATE 23P01 and is mapped by the error
 * layer; the history row is written by a trigger in the same transaction.
 */
export async function bookAppointment(db: Queries, deadline: Deadline, input: NewAppointment): Promise<BookingResult> {
  return db.run(deadline, async (tx) => {
    const doctor = await lockDoctorFor(tx, input.doctorId, input.startsAt, input.endsAt);
    if (!doctor) return { ok: false, reason: "doctor-not-found" } as const;
    if (!doctor.active) return { ok: false, reason: "doctor-inactive" } as const;
    if (!doctor.inHours) return { ok: false, reason: "outside-hours" } as const;
    const [patient] = await tx.select({ id: patients.id }).from(patients).where(eq(patients.id, input.patientId));
    if (!patient) return { ok: false, reason: "patient-not-found" } as const;
    const [appointment] = await tx.insert(appointments).values(input).returning();
    return { ok: true, appointment: appointment! } as const;
  });
}

export type RescheduleRefusal = "not-found" | "stale" | "not-scheduled" | "doctor-inactive" | "outside-hours";

export type RescheduleResult =
  | { ok: true; appointment: AppointmentRow; previous: AppointmentRow }
  | { ok: false; reason: RescheduleRefusal; appointment?: AppointmentRow };

/**
 * Moves a scheduled appointment, in one transaction: the row is locked FOR UPDATE, its version
 * checked against If-Match, the doctor's hours checked; the exclusion constraint refuses an overlap
 * with the doctor's other appointments (23P01). The old slot is free again once this commits.
 */
export async function rescheduleAppointment(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  slot: { startsAt: Date; endsAt: Date },
  precondition: Precondition,
): Promise<RescheduleResult> {
  return db.run(deadline, async (tx) => {
    const [current] = await tx.select().from(appointments).where(eq(appointments.id, id)).for("update");
    if (!current) return { ok: false, reason: "not-found" } as const;
    if (!satisfies(precondition, current.version)) return { ok: false, reason: "stale", appointment: current } as const;
    if (current.status !== "scheduled") return { ok: false, reason: "not-scheduled", appointment: current } as const;
    const doctor = await lockDoctorFor(tx, current.doctorId, slot.startsAt, slot.endsAt);
    if (!doctor?.active) return { ok: false, reason: "doctor-inactive", appointment: current } as const;
    if (!doctor.inHours) return { ok: false, reason: "outside-hours", appointment: current } as const;
    const [moved] = await tx.update(appointments).set(slot).where(eq(appointments.id, id)).returning();
    return { ok: true, appointment: moved!, previous: current } as const;
  });
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
  extra?: SQL,
): Promise<TransitionResult> {
  const [[updated], [current]] = await db.batch(
    deadline,
    (q) =>
      [
        q
          .update(appointments)
          .set({ status: to })
          .where(
            and(
              eq(appointments.id, id),
              eq(appointments.status, "scheduled"),
              versionIs(appointments.version, precondition),
              extra,
            ),
          )
          .returning(),
        q.select().from(appointments).where(eq(appointments.id, id)),
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
): Promise<TransitionResult> {
  return transition(db, deadline, id, "cancelled", precondition);
}

/** Marks a scheduled appointment that has begun as completed (conflict: cancelled, or not begun yet). */
export async function completeAppointment(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  precondition?: Precondition,
): Promise<TransitionResult> {
  return transition(db, deadline, id, "completed", precondition, sql`${appointments.startsAt} <= now()`);
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
