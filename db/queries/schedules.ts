import { asc, eq, sql } from "drizzle-orm";
import type { Deadline } from "../../core/deadline.ts";
import type { RequestDb } from "../client.ts";
import { doctorSchedules, doctors, type ScheduleRow } from "../schema/index.ts";

export interface ScheduleInterval {
  weekday: number;
  /** "HH:MM" or "HH:MM:SS", UTC. */
  startsAt: string;
  endsAt: string;
  slotMinutes: number;
}

/** The doctor's weekly schedule; undefined when the doctor does not exist. */
export async function findSchedule(
  db: RequestDb,
  deadline: Deadline,
  doctorId: string,
): Promise<ScheduleRow[] | undefined> {
  return db.run(deadline, async (tx) => {
    const [doctor] = await tx.select({ id: doctors.id }).from(doctors).where(eq(doctors.id, doctorId));
    if (!doctor) return undefined;
    return tx
      .select()
      .from(doctorSchedules)
      .where(eq(doctorSchedules.doctorId, doctorId))
      .orderBy(asc(doctorSchedules.weekday), asc(doctorSchedules.startsAt));
  });
}

/**
 * Replaces a doctor's whole weekly schedule in one transaction; undefined when the doctor does not
 * exist. The doctor row is locked so two concurrent replacements apply one after the other.
 */
export async function replaceSchedule(
  db: RequestDb,
  deadline: Deadline,
  doctorId: string,
  intervals: ScheduleInterval[],
): Promise<ScheduleRow[] | undefined> {
  return db.run(deadline, async (tx) => {
    const [doctor] = await tx.select({ id: doctors.id }).from(doctors).where(eq(doctors.id, doctorId)).for("update");
    if (!doctor) return undefined;
    await tx.delete(doctorSchedules).where(eq(doctorSchedules.doctorId, doctorId));
    if (intervals.length === 0) return [];
    const rows = await tx
      .insert(doctorSchedules)
      .values(intervals.map((i) => ({ ...i, doctorId })))
      .returning();
    await tx
      .update(doctors)
      .set({ updatedAt: sql`now()` })
      .where(eq(doctors.id, doctorId));
    return rows.sort((a, b) => a.weekday - b.weekday || a.startsAt.localeCompare(b.startsAt));
  });
}
