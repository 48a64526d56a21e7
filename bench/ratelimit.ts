/**
 * `npm run build && npm run bench:ratelimit [-- -c 20 -d 10 -w 2 -r 2]`: what the rate limiter costs.
 *
 * The same built Worker (dist/index.js) on workerd (Miniflare), the same seeded database and the
 * same closed-loop load, with the per-caller rate limit off (RATE_LIMIT_REQUESTS=0) and on with a
 * limit no request reaches (100,000 per hour): the difference is the RateLimiter Durable Object
 * round trip each request makes. Every request comes from one caller (the bench's admin token:
 * key `admin:bench`), so one object serves them all — the worst case for one key. The variants
 * alternate `--rounds` times, so drift on a shared machine hits both.
 *
 * Two routes:
 *   GET /metrics          no database: the limiter's cost against a trivial route
 *   GET /patients/:id     one SQL statement over the HTTP path
 */
import { abOptions, abTable, runAb, type AbPlan } from "./lib/ab.ts";
import { withWorkerStack } from "./lib/worker.ts";

const opts = abOptions();

await withWorkerStack("ratelimit", async (stack) => {
  const limiting = (on: boolean): Record<string, string> => ({
    RATE_LIMIT_REQUESTS: on ? "100000" : "0",
    RATE_LIMIT_WRITE_REQUESTS: "0",
    RATE_LIMIT_WINDOW_MS: "3600000",
    // Generous: a slow answer under load should be measured, not turned into "failed open".
    RATE_LIMIT_TIMEOUT_MS: "5000",
  });
  // The counter is the isolate's since the Worker was last configured: a new configuration is a new
  // isolate, so the object starts with an empty window and the counter at 0.
  let limitedSeen = 0;
  const countLimited = async (): Promise<void> => {
    const text = await (await fetch(`${stack.base}/metrics`, { headers: stack.auth })).text();
    limitedSeen += Number(
      /^ratelimit_decisions_total\{outcome="(?:limited|failed-open)"\} (\d+)$/m.exec(text)?.[1] ?? 0,
    );
  };
  const plan: AbPlan = {
    feature: "limiter",
    column: "rate limit",
    variants: [
      { name: "off", bindings: limiting(false) },
      { name: "on", cell: "on (DO per caller)", bindings: limiting(true), after: countLimited },
    ],
    routes: [
      { label: "GET /metrics", urls: [`${stack.base}/metrics`] },
      { label: "GET /patients/:id", urls: stack.patients.map((id) => `${stack.base}/patients/${id}`) },
    ],
  };
  console.error(
    `[bench] c=${opts.concurrency}, ${opts.durationS} s per phase after ${opts.warmupS} s warm-up, ${opts.rounds} rounds`,
  );
  const results = await runAb(stack, opts, plan);
  console.log(abTable(plan, results));
  console.log(`requests limited or failed open while on (should be 0): ${limitedSeen}`);
});
