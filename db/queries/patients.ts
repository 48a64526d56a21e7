import { and, asc, eq, sql, type SQL } from "drizzle-orm";
import type { Deadline } from "../../core/deadline.ts";
import type { Precondition } from "../../core/precondition.ts";
import { prepared, type Bound, type Queries, type RequestDb } from "../client.ts";
import { refusalOf } from "../errors.ts";
import { patients, type PatientRow } from "../schema/index.ts";
import { updatedOf, versionIs, type Updated } from "./versions.ts";

export interface PatientFilter {
  /** Exact match, case-insensitive (served by the lower(email) unique index). */
  email?: string | undefined;
  after?: readonly [name: string, id: string] | undefined;
  limit: number;
}

const patientById = prepared("patient_by_id", ["id"], (q, v: Bound<{ id: string }>) =>
  q.select().from(patients).where(eq(patients.id, v.id)),
);

export async function findPatient(db: RequestDb, deadline: Deadline, id: string): Promise<PatientRow | undefined> {
  const [row] = await db.prepared(deadline, patientById, { id });
  return row;
}

export async function listPatients(db: RequestDb, deadline: Deadline, f: PatientFilter): Promise<PatientRow[]> {
  const where: SQL | undefined = and(
    f.email !== undefined ? sql`lower(${patients.email}) = lower(${f.email})` : undefined,
    f.after ? sql`(${patients.name}, ${patients.id}) > (${f.after[0]}, ${f.after[1]}::uuid)` : undefined,
  );
  return db.query(deadline, (q) =>
    q
      .select()
      .from(patients)
      .where(where)
      .orderBy(asc(patients.name), asc(patients.id))
      .limit(f.limit + 1),
  );
}

export interface NewPatient {
  name: string;
  email: string;
  phone?: string | null | undefined;
  birthDate: string;
  insuranceMemberId?: string | null | undefined;
}

export async function insertPatient(db: Queries, deadline: Deadline, input: NewPatient): Promise<PatientRow> {
  const [row] = await db.query(deadline, (q) => q.insert(patients).values(input).returning());
  return row!;
}

export type PatientChanges = Partial<Pick<PatientRow, "name" | "email" | "phone" | "birthDate" | "insuranceMemberId">>;

/** Why a patient's update was not made. */
export type PatientUpdated =
  | Updated<PatientRow>
  | {
      ok: false;
      /** The patient's own insurance member id changes of the last 24 hours are spent. */
      reason: "member-id-changes-exhausted";
      limit: number;
      retryAfterSeconds: number;
    };

/**
 * Applies the changes if the patient is at a version the precondition accepts (version and
 * updated_at: trigger), in one batch, one round trip. A change of insuranceMemberId is recorded,
 * and limited to `memberIdChangesPerDay` a day unless an admin makes it, by a trigger
 * (drizzle/0009) that reads the limit from the setting the batch's first statement makes; a member
 * id another patient holds is refused by the unique index (23505, mapped by the error layer).
 */
export async function updatePatient(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  changes: PatientChanges,
  precondition: Precondition,
  memberIdChangesPerDay: number,
): Promise<PatientUpdated> {
  try {
    const [, [updated], [current]] = await db.batch(
      deadline,
      (q) =>
        [
          q.execute(
            sql`select set_config('clinic_edge.member_id_changes_per_day', ${String(memberIdChangesPerDay)}, true)`,
          ),
          q
            .update(patients)
            .set(changes)
            .where(and(eq(patients.id, id), versionIs(patients.version, precondition)))
            .returning(),
          q.select({ id: patients.id }).from(patients).where(eq(patients.id, id)),
        ] as const,
    );
    return updatedOf(updated, current);
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal?.reason !== "member-id-changes-exhausted") throw err;
    const [limit, seconds] = (refusal.detail ?? "").split(" ").map(Number);
    return {
      ok: false,
      reason: refusal.reason,
      limit: limit ?? memberIdChangesPerDay,
      retryAfterSeconds: Math.max(1, seconds || 1),
    };
  }
}
