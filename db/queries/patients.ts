import { and, asc, eq, sql, type SQL } from "drizzle-orm";
import type { Deadline } from "../../core/deadline.ts";
import type { Precondition } from "../../core/precondition.ts";
import { prepared, type Bound, type Queries, type RequestDb } from "../client.ts";
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

/** Applies the changes if the patient is at a version the precondition accepts (version and updated_at: trigger). */
export async function updatePatient(
  db: RequestDb,
  deadline: Deadline,
  id: string,
  changes: PatientChanges,
  precondition: Precondition,
): Promise<Updated<PatientRow>> {
  const [[updated], [current]] = await db.batch(
    deadline,
    (q) =>
      [
        q
          .update(patients)
          .set(changes)
          .where(and(eq(patients.id, id), versionIs(patients.version, precondition)))
          .returning(),
        q.select({ id: patients.id }).from(patients).where(eq(patients.id, id)),
      ] as const,
  );
  return updatedOf(updated, current);
}
