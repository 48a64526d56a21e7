/**
 * `npm run build && npm run bench:round-trips -- --baseline <bundle> [--rtts 0,20,80] [-c 20 -d 8 -w 2 -r 1]`:
 * what a database far away costs the writes, old build against new. For each simulated distance
 * (DEV_DB_RTT_MS: the bridge and the /sql stand-in add the round trip per exchange, dev/latency.ts)
 * a stack of its own, and on it, alternating per round, the baseline bundle and this checkout's
 * dist/index.js, each loaded with
 *
 *   POST /appointments (with an Idempotency-Key)   a new slot per request, no insurer call
 *   PATCH /appointments/:id (If-Match: *)           each worker moves its own appointment
 *
 * in a closed loop of `-c` requests in flight. Prints req/s, p50 and p99, and the round trips and
 * WebSocket connections per request as the stand-ins counted them (by each request's
 * application_name), so the builds are compared on what crossed the wire, not on what they report.
 *
 * The baseline: another commit's build, e.g. the one before writes went to one round trip:
 *   mkdir /tmp/base && git archive <rev> | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/ &&
 *   (cd /tmp/base && npx wrangler deploy --dry-run --outdir dist)  — then --baseline /tmp/base/dist/index.js.
 * Both run against the same migrated database (this checkout's migrations; the old build ignores
 * what it does not use).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { abOptions, markdownTable } from "./lib/ab.ts";
import { percentile } from "./lib/stack.ts";
import { withWorkerStack } from "./lib/worker.ts";
import { createFixtures, writeLoop, type Operation, type WriteSample } from "./round-trips/writes.ts";

const opts = abOptions({ baseline: "", candidate: "dist/index.js", rtts: "0,20,80" });
const builds = [
  { name: "old", path: resolve(opts.extra.baseline) },
  { name: "new", path: resolve(opts.extra.candidate) },
];
for (const b of builds) {
  if (!existsSync(b.path)) {
    console.error(`[bench] ${b.name} build: no bundle at "${b.path}" (--baseline and --candidate name built Workers)`);
    process.exit(2);
  }
}
const rtts = opts.extra.rtts.split(",").map((v) => {
  const ms = Number(v);
  if (!Number.isFinite(ms) || ms < 0 || ms > 1_000) throw new Error(`--rtts: "${v}" is not a number of ms`);
  return ms;
});
const OPERATIONS: Array<{ op: Operation; label: string }> = [
  { op: "book", label: "POST /appointments" },
  { op: "reschedule", label: "PATCH /appointments/:id" },
];

type Key = `${number}|${Operation}|${string}`;
const results = new Map<Key, WriteSample>();

function merge(into: WriteSample | undefined, s: WriteSample): WriteSample {
  if (!into) return s;
  return {
    latencies: [...into.latencies, ...s.latencies],
    errors: into.errors + s.errors,
    elapsedS: into.elapsedS + s.elapsedS,
    roundTrips: [...into.roundTrips, ...s.roundTrips],
    connections: [...into.connections, ...s.connections],
    errorSamples: [...into.errorSamples, ...s.errorSamples].slice(0, 3),
  };
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

for (const rttMs of rtts) {
  await withWorkerStack(
    `rtt${rttMs}`,
    async (stack) => {
      const fixtures = await createFixtures(stack.monitor, opts.concurrency);
      for (let round = 0; round < opts.rounds; round++) {
        const order = round % 2 === 0 ? builds : [...builds].reverse();
        for (const build of order) {
          await stack.configure({}, build.path);
          for (const { op, label } of OPERATIONS) {
            console.error(`[bench] RTT ${rttMs} ms, round ${round + 1}: ${label}, ${build.name} build`);
            const load = (s: number) =>
              writeLoop(op, stack.base, stack.auth, fixtures, stack.services, opts.concurrency, s);
            if (opts.warmupS > 0) await load(opts.warmupS);
            const key: Key = `${rttMs}|${op}|${build.name}`;
            results.set(key, merge(results.get(key), await load(opts.durationS)));
          }
        }
      }
    },
    { rttMs, seed: false },
  );
}

const rows: string[][] = [];
for (const { op, label } of OPERATIONS) {
  for (const rttMs of rtts) {
    const old = results.get(`${rttMs}|${op}|old`)!;
    for (const build of builds) {
      const s = results.get(`${rttMs}|${op}|${build.name}`)!;
      s.latencies.sort((a, b) => a - b);
      const rps = s.latencies.length / s.elapsedS;
      const p50 = percentile(s.latencies, 50);
      rows.push([
        label,
        String(rttMs),
        build.name,
        rps.toFixed(0),
        `${((rps / (old.latencies.length / old.elapsedS)) * 100).toFixed(0)}%`,
        p50.toFixed(1),
        percentile(s.latencies, 99).toFixed(1),
        rttMs > 0 ? (p50 / rttMs).toFixed(2) : "-",
        mean(s.roundTrips).toFixed(2),
        mean(s.connections).toFixed(2),
        String(s.errors),
      ]);
      for (const e of s.errorSamples) console.error(`[bench] ${label} RTT ${rttMs} ${build.name}: ${e}`);
    }
  }
}
console.error(
  `[bench] c=${opts.concurrency}, ${opts.durationS} s per cell after ${opts.warmupS} s warm-up, ${opts.rounds} round(s)`,
);
console.log(
  markdownTable(
    [
      "route",
      "RTT ms",
      "build",
      "req/s",
      "vs old",
      "p50 ms",
      "p99 ms",
      "p50 / RTT",
      "round trips/req",
      "WebSockets/req",
      "errors",
    ],
    rows,
  ),
);
