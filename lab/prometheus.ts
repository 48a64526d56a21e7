/**
 * A real Prometheus for a lab variant: scrapes the local OTLP collector's fleet /metrics and the
 * lab's Postgres exporter stand-in and evaluates the shipped rules
 * (ops/prometheus/clinic-edge.rules.yml) with their durations compressed: every `for:` and every
 * range in the rules is written in minutes, and the lab reads each minute as a second. It scrapes
 * and evaluates every 250 ms, a 15 s interval compressed alike: once a second would be once a
 * production minute, and a max_over_time over two "minutes" of a recorded gauge (Postgres backends,
 * which come and go faster than a scrape) would see two samples and miss a storm's peaks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../dev/ports.ts";
import { ROOT } from "../bench/lib/stack.ts";

export const RULES_FILE = join(ROOT, "ops", "prometheus", "clinic-edge.rules.yml");
/** Production minutes per lab second. */
export const TIME_COMPRESSION = 60;
export const TIME_COMPRESSION_NOTE =
  "Every `for:` and range in the shipped rules is written in minutes; the lab's Prometheus reads each minute as one second (compressed 60×), scraping and evaluating every 250 ms (a 15 s interval, compressed alike).";

/**
 * The rules with every duration in minutes turned into as many seconds: `for: 2m` → `for: 2s`,
 * `[5m]` → `[5s]`. A duration in another unit is refused, so the compression cannot silently skip one.
 */
export function compressRules(text: string): string {
  const other = /\[\d+(?:ms|s|h|d|w|y)(?::\d*\w*)?\]|(?:for|keep_firing_for):\s*\d+(?:ms|s|h|d|w|y)\b/.exec(text);
  if (other) throw new Error(`a duration the lab cannot compress: ${other[0]} (write rule durations in minutes)`);
  return text
    .replace(/^(\s*(?:for|keep_firing_for):\s*)(\d+)m\s*$/gm, (_, head: string, n: string) => `${head}${n}s`)
    .replace(/\[(\d+)m(?::(\d+)m)?\]/g, (_, range: string, step: string | undefined) =>
      step ? `[${range}s:${step}s]` : `[${range}s]`,
    );
}

/** The names of the alerts in a rules file, in file order. */
export function alertNames(text: string): string[] {
  return [...text.matchAll(/^\s*-\s*alert:\s*(\S+)\s*$/gm)].map((m) => m[1]!);
}

export interface AlertState {
  name: string;
  state: "pending" | "firing";
}

export interface RunningPrometheus {
  url: string;
  /** The alerts that are pending or firing right now. */
  alerts(): Promise<AlertState[]>;
  /** An instant query's single value (NaN when the result is empty). */
  value(expr: string): Promise<number>;
  stop(): Promise<void>;
}

interface ApiAnswer<T> {
  status: string;
  data: T;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as ApiAnswer<T>;
  if (body.status !== "success") throw new Error(`Prometheus ${url}: ${JSON.stringify(body)}`);
  return body.data;
}

/** Starts Prometheus on a free loopback port scraping `targets` (host:port) at /metrics. */
export async function startPrometheus(targets: Record<string, string>): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "clinic-edge-lab-prometheus-"));
  await writeFile(join(dir, "rules.yml"), compressRules(await readFile(RULES_FILE, "utf8")));
  const scrapeConfigs = Object.entries(targets)
    .map(([job, target]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${target}"]`)
    .join("\n");
  await writeFile(
    join(dir, "prometheus.yml"),
    [
      "global:",
      "  scrape_interval: 250ms",
      "  evaluation_interval: 250ms",
      "rule_files:",
      "  - rules.yml",
      "scrape_configs:",
      scrapeConfigs,
      "",
    ].join("\n"),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const output: string[] = [];
  const child: ChildProcess = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1h",
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString("utf8"));
    output.splice(0, Math.max(0, output.length - 20));
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(5_000).then(() => child.kill("SIGKILL"))]);
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Ready when it answers; bounded.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited during startup: ${output.join("").slice(-2_000)}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i >= 100) {
      await stop();
      throw new Error("prometheus was not ready within 20 s");
    }
    await sleep(200);
  }
  return {
    url,
    alerts: async () => {
      const data = await api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(
        `${url}/api/v1/alerts`,
      );
      return data.alerts
        .filter((a) => a.state === "pending" || a.state === "firing")
        .map((a) => ({ name: a.labels.alertname ?? "", state: a.state as "pending" | "firing" }));
    },
    value: async (expr) => {
      const data = await api<{ result: Array<{ value: [number, string] }> }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.result.length === 0 ? Number.NaN : Number(data.result[0]!.value[1]);
    },
    stop,
  };
}
