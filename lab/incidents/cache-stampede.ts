/**
 * Cache stampede: every second, a burst of concurrent reads of one cold key (a new doctor's
 * availability). Without coalescing each read loads from Postgres; through the Coalescer (one
 * Durable Object per doctor) the burst shares one load. Postgres itself counts the reads (scans of
 * doctor_schedules, which the availability query reads exactly once).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { figure, type Incident, type VariantContext, type VariantSpec } from "../incident.ts";

const BURST = 30;
let readsBefore = 0;

async function scans(monitor: pg.Client): Promise<number> {
  await monitor.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await monitor.query<{ n: string }>(
    "SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text AS n FROM pg_stat_user_tables WHERE relname = 'doctor_schedules'",
  );
  return Number(rows[0]?.n ?? 0);
}

/** Scans once they have stopped changing: backends report them as they go idle (bounded wait). */
async function settledScans(monitor: pg.Client): Promise<number> {
  let last = -1;
  for (let stable = 0, i = 0; stable < 4 && i < 50; i++) {
    await sleep(250);
    const n = await scans(monitor);
    stable = n === last ? stable + 1 : 0;
    last = n;
  }
  return last;
}

async function coldDoctor(monitor: pg.Client): Promise<string> {
  const { rows } = await monitor.query<{ id: string }>(
    "INSERT INTO doctors (name, specialty) VALUES ('Dr. Lab Stampede', 'cardiology') RETURNING id",
  );
  const id = rows[0]!.id;
  await monitor.query(
    "INSERT INTO doctor_schedules (doctor_id, weekday, starts_at, ends_at) SELECT $1, d, '09:00', '17:00' FROM generate_series(0, 6) d",
    [id],
  );
  return id;
}

function variant(name: string, kind: "bad" | "good", coalesced: boolean): VariantSpec {
  let bursts = 0;
  return {
    name,
    kind,
    load: async (ctx: VariantContext) => {
      readsBefore = await settledScans(ctx.target.monitor);
      bursts = 0;
      const date = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
      const until = ctx.recorder.now() + ctx.seconds;
      while (ctx.recorder.now() < until) {
        const started = ctx.recorder.now();
        const doctor = await coldDoctor(ctx.target.monitor);
        const path = coalesced
          ? `/doctors/${doctor}/availability?date=${date}`
          : `/__lab/availability-direct?doctor=${doctor}&date=${date}`;
        await ctx.recorder.burst(() => ({ url: `${ctx.worker.base}${path}`, headers: ctx.headers }), BURST);
        bursts++;
        await sleep(Math.max(0, 1_000 - (ctx.recorder.now() - started) * 1_000));
      }
    },
    sample: async (ctx) => ({ db_reads: (await scans(ctx.target.monitor)) - readsBefore }),
    summarize: async (ctx) => {
      const reads = (await settledScans(ctx.target.monitor)) - readsBefore;
      return { "cold keys": bursts, "Postgres reads": reads, "reads per key": Math.round((reads / bursts) * 10) / 10 };
    },
  };
}

export const cacheStampede: Incident = {
  id: "cache-stampede",
  title: "Cache stampede",
  what: `${BURST} concurrent readers of one cold key each load it from Postgres; the Coalescer (a Durable Object per doctor) lets one load serve them all.`,
  alerts: ["CacheStampede"],
  variants: [variant("bad: no coalescing", "bad", false), variant("good: the Coalescer", "good", true)],
  checks: ([bad, good]) => [
    {
      name: "Postgres reads per cold key: 1 vs ≫ 1",
      passed: figure(good, "reads per key") <= 1.5 && figure(bad, "reads per key") >= BURST / 3,
      detail: `bad ${figure(bad, "reads per key")}, good ${figure(good, "reads per key")}`,
    },
  ],
};
