import { sql } from "drizzle-orm";
import { z } from "zod";
import type { Deadline } from "../../core/deadline.ts";
import type { RequestDb } from "../client.ts";

const SlotRows = z.object({
  rows: z.array(z.object({ starts_at: z.string().nullable(), ends_at: z.string().nullable() })),
});

export interface Slot {
  startsAt: string;
  endsAt: string;
}

export interface Availability {
  doctorId: string;
  date: string;
  slots: Slot[];
}

/**
 * Free slots of a doctor on a (UTC) day: the working intervals of that weekday cut into slots,
 * minus every slot overlapping a non-cancelled appointment, minus slots that have already begun.
 * One statement; undefined when the doctor does not exist, no slots when they are inactive.
 */
export async function findAvailability(
  db: RequestDb,
  deadline: Deadline,
  doctorId: string,
  date: string,
): Promise<Availability | undefined> {
  const result = await db.query(deadline, (q) =>
    q.execute(sql`
      WITH doctor AS (
        SELECT id, active FROM doctors WHERE id = ${doctorId}::uuid
      ), slots AS (
        SELECT DISTINCT gs AS starts_at, gs + make_interval(mins => s.slot_minutes) AS ends_at
        FROM doctor d
        JOIN doctor_schedules s
          ON s.doctor_id = d.id AND d.active AND s.weekday = extract(dow FROM ${date}::date)
        CROSS JOIN LATERAL generate_series(
          (${date}::date + s.starts_at) AT TIME ZONE 'UTC',
          (${date}::date + s.ends_at) AT TIME ZONE 'UTC' - make_interval(mins => s.slot_minutes),
          make_interval(mins => s.slot_minutes)
        ) AS gs
      )
      SELECT true AS found,
             to_char(sl.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS starts_at,
             to_char(sl.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ends_at
      FROM doctor
      LEFT JOIN slots sl ON sl.starts_at > now() AND NOT EXISTS (
        SELECT 1 FROM appointments a
        WHERE a.doctor_id = doctor.id
          AND a.status <> 'cancelled'
          AND tstzrange(a.starts_at, a.ends_at, '[)') && tstzrange(sl.starts_at, sl.ends_at, '[)')
      )
      ORDER BY sl.starts_at
    `),
  );
  // Raw SQL comes back untyped (and shaped alike by both paths): check it rather than cast it.
  const { rows } = SlotRows.parse(result);
  if (rows.length === 0) return undefined;
  const slots = rows.flatMap((r) => (r.starts_at && r.ends_at ? [{ startsAt: r.starts_at, endsAt: r.ends_at }] : []));
  return { doctorId, date, slots };
}
