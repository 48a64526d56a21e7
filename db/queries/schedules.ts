import { asc, eq, sql } from "drizzle-orm";
import type { Deadline } from "../../core/deadline.ts";
import type { QueryBuilder, RequestDb } from "../client.ts";
import { sqlStateOf } from "../errors.ts";
import { doctorSchedules, doctors, type ScheduleRow } from "../schema/index.ts";

export interface ScheduleInterval {
  weekday: number;
  /** "HH:MM" or "HH:MM:SS", UTC. */
  startsAt: string;
  endsAt: string;
  slotMinutes: number;
}

const weekThenStart = [asc(doctorSchedules.weekday), asc(doctorSchedules.startsAt)];

/** The doctor's weekly schedule; undefined when the doctor does not exist. One batch: one round trip. */
export async function findSchedule(
  db: RequestDb,
  deadline: Deadline,
  doctorId: string,
): Promise<ScheduleRow[] | undefined> {
  const [[doctor], rows] = await db.batch(
    deadline,
    (q) =>
      [
        q.select({ id: doctors.id }).from(doctors).where(eq(doctors.id, doctorId)),
        q
          .select()
          .from(doctorSchedules)
          .where(eq(doctorSchedules.doctorId, doctorId))
          .orderBy(...weekThenStart),
      ] as const,
  );
  return doctor ? rows : undefined;
}

/**
 * Replaces a doctor's whole weekly schedule in one batch (one transaction, one round trip on the
 * HTTP path); undefined when the doctor does not exist. The doctor row is locked first, so two
 * concurrent replacements apply one after the other. No statement needs another's answer: the
 * insert of a missing doctor's intervals fails on the foreign key (23503), which rolls the batch
 * back and means "not found".
 */
export async function replaceSchedule(
  db: RequestDb,
  deadline: Deadline,
  doctorId: string,
  intervals: ScheduleInterval[],
): Promise<ScheduleRow[] | undefined> {
  const lock = (q: QueryBuilder) =>
    q.select({ id: doctors.id }).from(doctors).where(eq(doctors.id, doctorId)).for("update");
  const clear = (q: QueryBuilder) => q.delete(doctorSchedules).where(eq(doctorSchedules.doctorId, doctorId));
  if (intervals.length === 0) {
    const [[doctor]] = await db.batch(deadline, (q) => [lock(q), clear(q)] as const);
    return doctor ? [] : undefined;
  }
  try {
    const [, , rows] = await db.batch(
      deadline,
      (q) =>
        [
          lock(q),
          clear(q),
          q
            .insert(doctorSchedules)
            .values(intervals.map((i) => ({ ...i, doctorId })))
            .returning(),
          q
            .update(doctors)
            .set({ updatedAt: sql`now()` })
            .where(eq(doctors.id, doctorId)),
        ] as const,
    );
    return rows.sort((a, b) => a.weekday - b.weekday || a.startsAt.localeCompare(b.startsAt));
  } catch (err) {
    if (sqlStateOf(err) === "23503") return undefined;
    throw err;
  }
}
