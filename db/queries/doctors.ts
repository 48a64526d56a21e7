import { and, asc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import type { Deadline } from "../../core/deadline.ts";
import type { Precondition } from "../../core/precondition.ts";
import { prepared, type Bound, type Queries, type RequestDb } from "../client.ts";
import { appointments, doctors, type AppointmentRow, type DoctorRow } from "../schema/index.ts";
import { updatedOf, versionIs, type Updated } from "./versions.ts";

export interface DoctorFilter {
  specialty?: string | undefined;
  active?: boolean | undefined;
  /** Keyset: rows strictly after this (name, id). */
  after?: readonly [name: string, id: string] | undefined;
  limit: number;
}

export interface AppointmentWindow {
  from: Date;
  to: Date;
}

export type DoctorWithAppointments = DoctorRow & { appointments: AppointmentRow[] };

const byNameThenId = [asc(doctors.name), asc(doctors.id)];

function whereOf(f: DoctorFilter): SQL | undefined {
  return and(
    f.specialty !== undefined ? eq(doctors.specialty, f.specialty) : undefined,
    f.active !== undefined ? eq(doctors.active, f.active) : undefined,
    f.after ? sql`(${doctors.name}, ${doctors.id}) > (${f.after[0]}, ${f.after[1]}::uuid)` : undefined,
  );
}

const doctorById = prepared("doctor_by_id", ["id"], (q, v: Bound<{ id: string }>) =>
  q.select().from(doctors).where(eq(doctors.id, v.id)),
);

export async function findDoctor(db: RequestDb, deadline: Deadline, id: string): Promise<DoctorRow | undefined> {
  const [row] = await db.prepared(deadline, doctorById, { id });
  return row;
}

/** One page of doctors; fetches limit + 1 rows so the caller can tell whether more follow. */
export async function listDoctors(db: RequestDb, deadline: Deadline, f: DoctorFilter): Promise<DoctorRow[]> {
  return db.query(deadline, (q) =>
    q
      .select()
      .from(doctors)
      .where(whereOf(f))
      .orderBy(...byNameThenId)
      .limit(f.limit + 1),
  );
}

/**
 * Doctors with their appointments inside a window, in ONE SQL statement whatever the page size:
 * Drizzle's relational query aggregates each doctor's appointments with a lateral json_agg.
 */
export async function listDoctorsWithAppointments(
  db: RequestDb,
  deadline: Deadline,
  f: DoctorFilter,
  window: AppointmentWindow,
): Promise<DoctorWithAppointments[]> {
  return db.query(deadline, (q) =>
    q.query.doctors.findMany({
      where: whereOf(f),
      orderBy: byNameThenId,
      limit: f.limit + 1,
      with: {
        appointments: {
          where: and(gte(appointments.startsAt, window.from), lt(appointments.startsAt, window.to)),
          orderBy: [asc(appointments.startsAt), asc(appointments.id)],
        },
      },
    }),
  );
}

export interface NewDoctor {
  name: string;
  specialty: string;
  active?: boolean | undefined;
}

export async function insertDoctor(db: Queries, deadline: Deadline, input: NewDoctor): Promise<DoctorRow> {
  const [row] = await db.query(deadline, (q) => q.insert(doctors).values(input).returning());
  return row!;
}

export type DoctorChanges = Partial<Pick<DoctorRow, "name" | "specialty" | "active">>;

/** Applies the changes if the doctor is at a version the precondition accepts (version and updated_at: trigger). */
export async function updateDoctor(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  changes: DoctorChanges,
  precondition?: Precondition,
): Promise<Updated<DoctorRow>> {
  const [[updated], [current]] = await db.batch(
    deadline,
    (q) =>
      [
        q
          .update(doctors)
          .set(changes)
          .where(and(eq(doctors.id, id), versionIs(doctors.version, precondition)))
          .returning(),
        q.select({ id: doctors.id }).from(doctors).where(eq(doctors.id, id)),
      ] as const,
  );
  return updatedOf(updated, current);
}
