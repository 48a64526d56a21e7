/**
 * N+1: a page of doctors with their appointments, as a per-doctor query loop (the lab's route)
 * vs clinic-edge's one statement (`GET /doctors?include=appointments`). The N+1 detector counts
 * the loop (db_n_plus_one_total) and NPlusOneQueries fires.
 */
import { figure, type Incident, type VariantContext } from "../incident.ts";

const PAGE = 20;
const CONCURRENCY = 2;

function window(): string {
  const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
  const to = new Date(Date.now() + 30 * 86_400_000).toISOString();
  return `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=${PAGE}`;
}

async function dbFigures(ctx: VariantContext): Promise<Record<string, number>> {
  const p = ctx.worker.prometheus;
  const [sum, count, nPlusOne] = await Promise.all([
    p.value("sum(db_queries_per_request_sum)"),
    p.value("sum(db_queries_per_request_count)"),
    p.value("sum(db_n_plus_one_total)"),
  ]);
  return {
    "queries/request": Math.round((sum / count) * 10) / 10,
    "N+1 detections": Number.isNaN(nPlusOne) ? 0 : nPlusOne,
  };
}

function load(path: string) {
  return async (ctx: VariantContext): Promise<void> => {
    const query = window();
    await ctx.recorder.closedLoop(
      () => ({ url: `${ctx.worker.base}${path}${query}`, headers: ctx.headers }),
      CONCURRENCY,
      ctx.seconds,
    );
  };
}

export const nPlusOne: Incident = {
  id: "n-plus-one",
  title: "N+1 queries",
  what: "A page of doctors loads each doctor's appointments with its own query (21 statements a request); one statement with a lateral aggregate does it in one.",
  alerts: ["NPlusOneQueries"],
  variants: [
    {
      name: "bad: a query per doctor",
      kind: "bad",
      load: load("/__lab/doctors-with-appointments?"),
      summarize: dbFigures,
    },
    {
      name: "good: one statement",
      kind: "good",
      load: load("/doctors?include=appointments&"),
      summarize: dbFigures,
    },
  ],
  checks: ([bad, good]) => [
    {
      name: "statements per request: 1 vs > N_PLUS_ONE_THRESHOLD",
      passed: figure(good, "queries/request") === 1 && figure(bad, "queries/request") > 5,
      detail: `bad ${figure(bad, "queries/request")}, good ${figure(good, "queries/request")}`,
    },
    {
      name: "the N+1 detector counts the bad run only",
      passed: figure(bad, "N+1 detections") > 0 && figure(good, "N+1 detections") === 0,
      detail: `bad ${figure(bad, "N+1 detections")}, good ${figure(good, "N+1 detections")}`,
    },
  ],
};
