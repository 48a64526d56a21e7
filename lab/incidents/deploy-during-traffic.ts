/**
 * Deploy during traffic: every Durable Object is reset mid-load, as a deploy resets them (the old
 * Worker version's requests run on; lab/worker/deploy.ts). Steady reads of a doctor's availability
 * run all along, and every DEPLOY_EVERY_S a burst of readers of a cold key joins one load in the
 * doctor's Coalescer; the lab holds doctor_schedules locked for a moment so the load is in flight
 * when the deploy lands (at fleet scale some call always is). Each read then sends a record of itself
 * after the response. Without handling (a direct stub call, the record fired and forgotten) the
 * reset is the burst's 500s and the records never land; with the app's (one retry on a fresh stub,
 * a fallback, the record in waitUntil) every read answers and every record lands.
 */
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { coldDoctor } from "../../bench/lib/cold-key.ts";
import { figure, last, type Incident, type VariantContext, type VariantSpec } from "../incident.ts";

const STEADY_PER_SECOND = 20;
const BURST = 20;
const DEPLOY_EVERY_S = 1.5;
/** Longest the lab waits for the burst's load to queue on the lock before deploying anyway. */
const QUEUE_WAIT_MS = 3_000;
/** After the load queues, time for the rest of the burst to join it in the object. */
const JOIN_MS = 100;

const LOADS_WAITING = `SELECT count(*)::int AS n FROM pg_stat_activity
  WHERE application_name LIKE 'clinic-edge:coalescer:%' AND wait_event_type = 'Lock'`;

const serviceDate = (): string => new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
const unexpected5xx = (status: string): boolean => /^5/.test(status) && status !== "503" && status !== "504";

async function prometheusNumber(ctx: VariantContext, query: string): Promise<number> {
  const value = await ctx.worker.prometheus.value(query);
  return Number.isNaN(value) ? 0 : value;
}

/** Holds doctor_schedules locked (ACCESS EXCLUSIVE) until the returned release is called. */
async function lockSchedules(url: string): Promise<() => Promise<void>> {
  const holder = new pg.Client({ connectionString: url, application_name: "clinic-edge-lab-lock" });
  await holder.connect();
  await holder.query("BEGIN");
  await holder.query("LOCK TABLE doctor_schedules IN ACCESS EXCLUSIVE MODE");
  return async () => {
    await holder.query("ROLLBACK").catch(() => undefined);
    await holder.end();
  };
}

async function deploy(ctx: VariantContext): Promise<void> {
  const res = await fetch(`${ctx.worker.base}/__lab/deploy`, { method: "POST", headers: ctx.headers });
  if (!res.ok) throw new Error(`POST /__lab/deploy answered ${res.status}`);
  await res.arrayBuffer();
}

/** One deploy: a burst's load queued on the lock, every object reset, the lock released. */
async function burstThroughDeploy(ctx: VariantContext, read: (doctor: string) => string): Promise<void> {
  const doctor = await coldDoctor(ctx.target.monitor, "Dr. Lab Deploy");
  const release = await lockSchedules(ctx.target.url);
  let burst: Promise<void> | undefined;
  try {
    burst = ctx.recorder.burst(() => ({ url: read(doctor), headers: ctx.headers }), BURST);
    for (let waited = 0; waited < QUEUE_WAIT_MS; waited += 20) {
      const { rows } = await ctx.target.monitor.query<{ n: number }>(LOADS_WAITING);
      if ((rows[0]?.n ?? 0) > 0) break;
      await sleep(20);
    }
    await sleep(JOIN_MS);
    await deploy(ctx);
  } finally {
    await release();
  }
  await burst;
}

function variant(name: string, kind: "bad" | "good", handled: boolean): VariantSpec {
  let deploys = 0;
  const read = (base: string, doctor: string, date: string) =>
    `${base}/__lab/availability-read?handled=${handled ? 1 : 0}&doctor=${doctor}&date=${date}`;
  return {
    name,
    kind,
    load: async (ctx) => {
      deploys = 0;
      const date = serviceDate();
      const warm = await coldDoctor(ctx.target.monitor, "Dr. Lab Deploy (steady)");
      const steady = ctx.recorder.openLoop(
        () => ({ url: read(ctx.worker.base, warm, date), headers: ctx.headers }),
        STEADY_PER_SECOND,
        ctx.seconds,
      );
      const until = ctx.recorder.now() + ctx.seconds - DEPLOY_EVERY_S / 2;
      await sleep((DEPLOY_EVERY_S * 1_000) / 2);
      while (ctx.recorder.now() < until) {
        const started = ctx.recorder.now();
        await burstThroughDeploy(ctx, (doctor) => read(ctx.worker.base, doctor, date));
        deploys++;
        await sleep(Math.max(0, (DEPLOY_EVERY_S - (ctx.recorder.now() - started)) * 1_000));
      }
      await steady;
    },
    sample: async (ctx) => ({
      records_landed: ctx.worker.collector.exports,
      do_retries: await prometheusNumber(ctx, 'sum(durable_object_retries_total{object="Coalescer"})'),
    }),
    summarize: async (ctx) => {
      const answered = ctx.recorder.outcomes.filter((o) => o.status.startsWith("2")).length;
      return {
        deploys,
        "unexpected 5xx": ctx.recorder.outcomes.filter((o) => unexpected5xx(o.status)).length,
        "reads answered": answered,
        "records landed": ctx.worker.collector.exports,
        "records lost": answered - ctx.worker.collector.exports,
        "object retries": await prometheusNumber(ctx, 'sum(durable_object_retries_total{object="Coalescer"})'),
        "in flight at end": await prometheusNumber(ctx, "sum(http_requests_in_flight)"),
        "background tasks at end": await prometheusNumber(ctx, "sum(background_tasks_in_flight)"),
      };
    },
  };
}

export const deployDuringTraffic: Incident = {
  id: "deploy-during-traffic",
  title: "Deploy during traffic",
  what: "A deploy resets every Durable Object mid-load: a call in flight fails. Called straight through the stub, the reset is a 500, and post-response work started without waitUntil is lost; the app's clients retry it once on a fresh stub (then fall back), and its post-response work runs in waitUntil, bounded, so every read answers and every record lands.",
  alerts: ["ServerErrors"],
  variants: [
    variant("bad: direct object calls, fire-and-forget work", "bad", false),
    variant("good: retry on a fresh stub, work in waitUntil", "good", true),
  ],
  checks: ([bad, good]) => [
    {
      name: "a reset in flight: 500s without handling, no unexpected 5xx with it",
      passed: figure(bad, "unexpected 5xx") >= BURST && figure(good, "unexpected 5xx") === 0,
      detail: `unexpected 5xx over ${figure(bad, "deploys")} / ${figure(good, "deploys")} deploys: bad ${figure(bad, "unexpected 5xx")}, good ${figure(good, "unexpected 5xx")}`,
    },
    {
      name: "post-response work: lost without waitUntil, every record lands with it",
      passed:
        figure(bad, "reads answered") > 0 &&
        figure(bad, "records lost") === figure(bad, "reads answered") &&
        figure(good, "reads answered") > 0 &&
        figure(good, "records lost") === 0,
      detail: `records landed / reads answered: bad ${figure(bad, "records landed")} / ${figure(bad, "reads answered")}, good ${figure(good, "records landed")} / ${figure(good, "reads answered")}`,
    },
    {
      name: "the reset calls are retried on a fresh stub (good), never (bad)",
      passed: figure(good, "object retries") >= BURST && figure(bad, "object retries") === 0,
      detail: `durable_object_retries_total: bad ${figure(bad, "object retries")}, good ${figure(good, "object retries")}`,
    },
    {
      name: "in-flight requests and background tasks back to zero after the load (good)",
      passed:
        last(good, "in_flight") === 0 &&
        figure(good, "in flight at end") === 0 &&
        figure(good, "background tasks at end") === 0,
      detail: `at the end: ${figure(good, "in flight at end")} in flight, ${figure(good, "background tasks at end")} background tasks`,
    },
  ],
};
