/**
 * `npm run build && npm run bench:observability [-- -c 20 -d 10 -w 2 -r 2 --metrics-interval-ms 10000]`:
 * what exporting telemetry costs.
 *
 * The same built Worker (dist/index.js) on workerd (Miniflare), the same seeded database and the
 * same closed-loop load, with export off (OTEL_EXPORTER_OTLP_ENDPOINT empty) and on: tracing at
 * 100 % sampling (every request a trace) plus the OTLP metrics push every `--metrics-interval-ms`
 * (OTEL_METRICS_EXPORT_INTERVAL_MS; 0: after every request), both sent after the response to
 * dev/otlp-collector.ts running in this process. The variants alternate `--rounds` times, so drift
 * on a shared machine hits both. The in-isolate registry (/metrics counters) and the request log
 * line are always on: both sides pay them.
 *
 * Two routes:
 *   GET /patients/:id                      one SQL statement over the HTTP path: server span + 1 SQL span
 *   GET /doctors/:id/availability?date=…   a Coalescer hop (mostly cache hits): server + hop + object span
 */
import { startCollector } from "../dev/otlp-collector.ts";
import { abOptions, abTable, runAb, type AbPlan } from "./lib/ab.ts";
import { wholeNumber } from "./lib/cli.ts";
import { withWorkerStack } from "./lib/worker.ts";

const opts = abOptions({ "metrics-interval-ms": "10000" });
const metricsIntervalMs = wholeNumber(opts.extra["metrics-interval-ms"], "metrics-interval-ms", 0, 3_600_000);

await withWorkerStack("observability", async (stack) => {
  const collector = await startCollector();
  stack.defer(() => collector.close());
  const doctors = (
    await stack.monitor.query<{ id: string }>("SELECT id FROM doctors WHERE active ORDER BY id LIMIT 50")
  ).rows.map((r) => r.id);
  const exporting = (on: boolean): Record<string, string> => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: on ? collector.url : "",
    OTEL_SAMPLE_RATIO: "1",
    OTEL_METRICS_EXPORT_INTERVAL_MS: String(metricsIntervalMs),
  });
  const date = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
  const plan: AbPlan = {
    feature: "export",
    column: "export",
    variants: [
      { name: "off", bindings: exporting(false) },
      { name: "on", cell: `spans 100 % + metrics/${metricsIntervalMs} ms`, bindings: exporting(true) },
    ],
    routes: [
      { label: "GET /patients/:id", urls: stack.patients.map((id) => `${stack.base}/patients/${id}`) },
      {
        label: "GET /doctors/:id/availability",
        urls: doctors.map((id) => `${stack.base}/doctors/${id}/availability?date=${date}`),
      },
    ],
  };
  console.error(
    `[bench] c=${opts.concurrency}, ${opts.durationS} s per phase after ${opts.warmupS} s warm-up, ${opts.rounds} rounds, ` +
      `metrics pushed every ${metricsIntervalMs} ms when on`,
  );
  const results = await runAb(stack, opts, plan);
  console.log(abTable(plan, results));
  console.log(
    `OTLP export requests received by the collector: ${collector.exports} span batches, ${collector.metricExports} metric pushes`,
  );
});
