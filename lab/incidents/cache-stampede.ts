/**
 * Cache stampede: every second, a burst of concurrent reads of one cold key (a new doctor's
 * availability). Without coalescing each read loads from Postgres; through the Coalescer (one
 * Durable Object per doctor) the burst shares one load. Postgres itself counts the reads (scans of
 * doctor_schedules, which the availability query reads exactly once).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { coldDoctor, scheduleScans as scans, settledScans } from "../../bench/lib/cold-key.ts";
import { figure, type Incident, type VariantContext, type VariantSpec } from "../incident.ts";

const BURST = 30;
let readsBefore = 0;

function variant(name: string, kind: "bad" | "good", coalesced: boolean): VariantSpec {
  let bursts = 0;
  return {
    name,
    kind,
    load: async (ctx: VariantContext) => {
      readsBefore = await settledScans(ctx.target.monitor, 4, 250);
      bursts = 0;
      const date = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
      const until = ctx.recorder.now() + ctx.seconds;
      while (ctx.recorder.now() < until) {
        const started = ctx.recorder.now();
        const doctor = await coldDoctor(ctx.target.monitor, "Dr. Lab Stampede");
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
      const reads = (await settledScans(ctx.target.monitor, 4, 250)) - readsBefore;
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
