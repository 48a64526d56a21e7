/**
 * `npm run build && npm run bench:stack [-- -c 20 -d 10 -w 2 -r 3]`: what clinic-edge's own stack
 * costs a request, against a bare Hono app with one JSON route (bench/workers/bare-hono.ts):
 *
 *   bare Hono            GET /healthz: a router and c.json(), nothing else
 *   bare Hono + log line GET /healthz: the same, writing clinic-edge's request log line
 *                        (bench/workers/bare-hono-log.ts): the floor for a service that logs each request
 *   bare Hono + outputs  GET /healthz: the log line and clinic-edge's security headers
 *                        (bench/workers/bare-hono-outputs.ts): what clinic-edge sends and writes on
 *                        every answer, with none of its other work
 *   stack, limiter on    GET /healthz through every middleware; GET /patients/:id (one statement
 *                        on the HTTP path), the rate limiter on with a limit no request reaches
 *   stack, limiter off   GET /patients/:id with RATE_LIMIT_REQUESTS=0
 *
 * One workerd stack (the same compatibility settings and bindings for all three), one database,
 * one closed-loop load; the variants alternate `--rounds` times (each round a slice of each), so
 * the machine's drift falls on all alike. Prints req/s, latency and workerd CPU per request, then
 * the two ratios the hot path is held to, as the median of the per-round ratios: the stack's
 * /healthz against the bare app's, and /patients/:id with the limiter on against off; and what
 * the log line, the headers and the rest of the stack each take of that.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { abOptions, abTable, runAb, type AbPlan, type AbResults } from "./lib/ab.ts";
import { bundleWorker, codeIdentity } from "./lib/bundle.ts";
import { ROOT } from "./lib/stack.ts";
import { withWorkerStack } from "./lib/worker.ts";

const opts = abOptions();

const HEALTHZ = "GET /healthz";
const PATIENT = "GET /patients/:id";

const limiter = (on: boolean): Record<string, string> => ({
  // 100,000 an hour: more than any run of this bench sends, so no request is limited.
  RATE_LIMIT_REQUESTS: on ? "100000" : "0",
  RATE_LIMIT_WRITE_REQUESTS: "0",
  RATE_LIMIT_WINDOW_MS: "3600000",
  // Generous: a slow answer under load should be measured, not turned into "failed open".
  RATE_LIMIT_TIMEOUT_MS: "5000",
});

/** The median of `a[i] / b[i]` over the rounds both ran. */
function medianRatio(a: number[], b: number[]): number {
  const ratios = a.map((x, i) => x / b[i]!).sort((x, y) => x - y);
  const mid = Math.floor(ratios.length / 2);
  return ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
}

function ratioLine(results: AbResults, route: string, a: string, b: string, goal: string): string {
  const byVariant = results.get(route)!;
  const x = byVariant.get(a)!.roundRps;
  const y = byVariant.get(b)!.roundRps;
  const each = x.map((v, i) => (v / y[i]!).toFixed(3)).join(", ");
  return `${route}: ${a} / ${b} = ${medianRatio(x, y).toFixed(3)} (median of rounds: ${each}; goal ${goal})`;
}

const dir = await mkdtemp(join(tmpdir(), "clinic-edge-bench-stack-"));
try {
  const bare = await bundleWorker(join(ROOT, "bench", "workers", "bare-hono.ts"), dir);
  const bareLog = await bundleWorker(join(ROOT, "bench", "workers", "bare-hono-log.ts"), dir);
  const bareOutputs = await bundleWorker(join(ROOT, "bench", "workers", "bare-hono-outputs.ts"), dir);
  await withWorkerStack("stack", async (stack) => {
    let failedOpenOrLimited = 0;
    const countLimited = async (): Promise<void> => {
      const text = await (await fetch(`${stack.base}/metrics`, { headers: stack.auth })).text();
      for (const m of text.matchAll(/^ratelimit_decisions_total\{outcome="(?:limited|failed-open)"\} (\d+)$/gm))
        failedOpenOrLimited += Number(m[1]);
    };
    const plan: AbPlan = {
      feature: "variant",
      column: "variant",
      variants: [
        { name: "bare Hono", bindings: limiter(false), scriptPath: bare, routes: [HEALTHZ] },
        { name: "bare Hono + log line", bindings: limiter(false), scriptPath: bareLog, routes: [HEALTHZ] },
        { name: "bare Hono + outputs", bindings: limiter(false), scriptPath: bareOutputs, routes: [HEALTHZ] },
        { name: "limiter on", cell: "clinic-edge, limiter on", bindings: limiter(true), after: countLimited },
        { name: "limiter off", cell: "clinic-edge, limiter off", bindings: limiter(false), routes: [PATIENT] },
      ],
      routes: [
        { label: HEALTHZ, urls: [`${stack.base}/healthz`] },
        { label: PATIENT, urls: stack.patients.map((id) => `${stack.base}/patients/${id}`) },
      ],
    };
    console.error(
      `[bench] c=${opts.concurrency}, ${opts.durationS} s per phase after ${opts.warmupS} s warm-up, ${opts.rounds} rounds`,
    );
    const results = await runAb(stack, opts, plan);
    console.log(await codeIdentity(join(ROOT, "dist", "index.js"), AbortSignal.timeout(30_000)));
    console.log(abTable(plan, results));
    console.log("");
    console.log(ratioLine(results, HEALTHZ, "limiter on", "bare Hono", "≥ 0.8"));
    console.log(ratioLine(results, HEALTHZ, "bare Hono + log line", "bare Hono", "the log line's own cost"));
    console.log(ratioLine(results, HEALTHZ, "bare Hono + outputs", "bare Hono + log line", "the headers' own cost"));
    console.log(ratioLine(results, HEALTHZ, "limiter on", "bare Hono + outputs", "the rest of the stack"));
    console.log(ratioLine(results, PATIENT, "limiter on", "limiter off", "≥ 0.9"));
    console.log(`requests limited or failed open while on (should be 0): ${failedOpenOrLimited}`);
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}
