/**
 * A cache stampede's cold key and its cost as Postgres counts it, for bench/stampede.ts and the
 * lab's cache-stampede incident: a new doctor nobody has read yet, and the scans of
 * doctor_schedules (which the availability query reads exactly once per load).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";

/** A doctor with working hours every day: a key nobody has read yet. */
export async function coldDoctor(monitor: pg.Client, name: string): Promise<string> {
  const { rows } = await monitor.query<{ id: string }>(
    "INSERT INTO doctors (name, specialty) VALUES ($1, 'cardiology') RETURNING id",
    [name],
  );
  const id = rows[0]!.id;
  await monitor.query(
    "INSERT INTO doctor_schedules (doctor_id, weekday, starts_at, ends_at) SELECT $1, d, '09:00', '17:00' FROM generate_series(0, 6) d",
    [id],
  );
  return id;
}

/** Scans of doctor_schedules so far, as this snapshot of the statistics says. */
export async function scheduleScans(monitor: pg.Client): Promise<number> {
  await monitor.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await monitor.query<{ n: string }>(
    "SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text AS n FROM pg_stat_user_tables WHERE relname = 'doctor_schedules'",
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * The scans once they have stopped changing (`stableReads` reads in a row, `everyMs` apart, at most
 * 50 reads): backends report them as they go idle.
 */
export async function settledScans(monitor: pg.Client, stableReads = 5, everyMs = 200): Promise<number> {
  let last = -1;
  for (let stable = 0, i = 0; stable < stableReads && i < 50; i++) {
    await sleep(everyMs);
    const n = await scheduleScans(monitor);
    stable = n === last ? stable + 1 : 0;
    last = n;
  }
  return last;
}
