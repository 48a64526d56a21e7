import { and, asc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import type { Deadline } from "../../functions/deadline.ts";
import type { RequestDb } from "../client.ts";
import {
  appointments, doctors, patients, type AppointmentRow, type AppointmentStatus, type Eligibility,
} from "../schema/index.ts";

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

export async function findAppointment(db: RequestDb, deadline: Deadline, id: string): Promise<AppointmentRow | undefined> {
  const [row] = await db.query(deadline, (q) => q.select().from(appointments).where(eq(appointments.id, id)));
  return row;
}

export async function listAppointments(db: RequestDb, deadline: Deadline, f: AppointmentFilter): Promise<AppointmentRow[]> {
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

export type BookingRefusal = "doctor-not-found" | "doctor-inactive" | "patient-not-found";

export type BookingResult = { ok: true; appointment: AppointmentRow } | { ok: false; reason: BookingRefusal };

export type BookingParties =
  | { ok: true; insuranceMemberId: string | null }
  | { ok: false; reason: BookingRefusal };

/**
 * What a booking needs to know before its transaction: whether it would be refused, and the
 * patient's insurance member id (the eligibility question is asked outside the transaction, so no
 * transaction stays open across a call to the insurer). One batch: one round trip on the HTTP path.
 * The transaction checks the doctor and patient again under its locks.
 */
export async function findBookingParties(db: RequestDb, deadline: Deadline, doctorId: string, patientId: string): Promise<BookingParties> {
  const [[doctor], [patient]] = await db.batch(deadline, (q) => [
    q.select({ active: doctors.active }).from(doctors).where(eq(doctors.id, doctorId)),
    q.select({ insuranceMemberId: patients.insuranceMemberId }).from(patients).where(eq(patients.id, patientId)),
  ] as const);
  if (!doctor) return { ok: false, reason: "doctor-not-found" };
  if (!doctor.active) return { ok: false, reason: "doctor-inactive" };
  if (!patient) return { ok: false, reason: "patient-not-found" };
  return { ok: true, insuranceMemberId: patient.insuranceMemberId };
}

/**
 * Books in one transaction (run's). The doctor row is read FOR SHARE so a concurrent deactivation waits for
 * (or is waited on by) the booking; overlaps are refused by the database's exclusion constraint,
 * which surfaces as SQLSTATE 23P01 and is mapped by the error layer.
 */
export async function bookAppointment(db: RequestDb, deadline: Deadline, input: NewAppointment): Promise<BookingResult> {
  return db.run(deadline, async (tx) => {
    const [doctor] = await tx
      .select({ active: doctors.active })
      .from(doctors)
      .where(eq(doctors.id, input.doctorId))
      .for("share");
    if (!doctor) return { ok: false, reason: "doctor-not-found" } as const;
    if (!doctor.active) return { ok: false, reason: "doctor-inactive" } as const;
    const [patient] = await tx.select({ id: patients.id }).from(patients).where(eq(patients.id, input.patientId));
    if (!patient) return { ok: false, reason: "patient-not-found" } as const;
    const [appointment] = await tx.insert(appointments).values(input).returning();
    return { ok: true, appointment: appointment! } as const;
  });
}

export type CancelResult =
  | { ok: true; appointment: AppointmentRow }
  | { ok: false; reason: "not-found" | "completed"; appointment?: AppointmentRow };

/**
 * Cancels a scheduled appointment; cancelling a cancelled one is a no-op that returns it. One
 * batch (one transaction, one round trip on the HTTP path): the update, then a read of the row,
 * which sees the update when there was one and tells "unknown" from "completed" when there was not.
 */
export async function cancelAppointment(db: RequestDb, deadline: Deadline, id: string): Promise<CancelResult> {
  const [[updated], [current]] = await db.batch(deadline, (q) => [
    q
      .update(appointments)
      .set({ status: "cancelled", updatedAt: sql`now()` })
      .where(and(eq(appointments.id, id), eq(appointments.status, "scheduled")))
      .returning(),
    q.select().from(appointments).where(eq(appointments.id, id)),
  ] as const);
  if (updated) return { ok: true, appointment: updated };
  if (!current) return { ok: false, reason: "not-found" };
  if (current.status === "cancelled") return { ok: true, appointment: current };
  return { ok: false, reason: "completed", appointment: current };
}
