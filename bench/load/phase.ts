/**
 * One phase of `npm run bench`'s load: `concurrency` workers, each with one GET in flight over a
 * shared keep-alive agent, and what came back (counts, errors by status or code, latencies).
 */
import { Agent, request, type IncomingMessage } from "node:http";
import type { Options } from "./options.ts";

/** Network errors without a single answer after which a phase gives up. */
const UNREACHABLE_AFTER = 200;

export interface PhaseResult {
  label: string;
  targets: number;
  concurrency: number;
  elapsedS: number;
  requests: number;
  ok: number;
  errors: number;
  /** "404", "500", ... for non-2xx; "ECONNRESET", "timeout", ... for network errors. */
  errorsBy: Record<string, number>;
  /** First response body (or error message) seen for each errorsBy key, truncated. */
  errorSamples: Record<string, string>;
  reqPerS: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

interface Reply {
  status: number;
  body: string;
}

/** One GET over the shared keep-alive agent; resolves with the whole body, rejects on network errors/timeout. */
export function get(
  agent: Agent,
  url: string,
  auth: Record<string, string>,
  timeoutMs: number,
  keepBody: boolean,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent, method: "GET", headers: { accept: "application/json", ...auth } },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          // Status-only callers still read the body (the socket must drain to be reused); keep the start.
          if (keepBody || size < 512) chunks.push(chunk);
          size += chunk.length;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: "timeout" })),
    );
    req.on("error", reject);
    req.end();
  });
}

function errorKey(err: unknown): string {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return err instanceof Error ? err.name : "network-error";
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** What every phase of a run shares: the options, the agent, the token, and the Ctrl-C flag. */
export interface Load {
  opts: Options;
  agent: Agent;
  auth: Record<string, string>;
  stop: { stopped: boolean };
}

/**
 * Closed loop: `concurrency` workers, each with one request in flight. Issues requests until the
 * deadline (or the request budget) is reached, then waits for the ones in flight.
 */
async function runPhase(
  label: string,
  targets: string[],
  { opts, agent, auth, stop }: Load,
  seconds: number,
  budget: number | undefined,
): Promise<PhaseResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let issued = 0;
  let ok = 0;
  const errorsBy: Record<string, number> = {};
  const errorSamples: Record<string, string> = {};
  let next = 0;
  let networkErrors = 0;
  let unreachable = false;
  const started = performance.now();
  const deadline = started + seconds * 1000;

  const note = (key: string, sample: string): void => {
    errorsBy[key] = (errorsBy[key] ?? 0) + 1;
    errorSamples[key] ??= sample.replace(/\s+/g, " ").slice(0, 300);
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      if (stop.stopped || unreachable) return;
      if (budget !== undefined ? issued >= budget : performance.now() >= deadline) return;
      issued++;
      const url = targets[next++ % targets.length]!;
      const t0 = performance.now();
      let key: string | undefined;
      let sample = "";
      try {
        const reply = await get(agent, url, auth, opts.timeoutMs, false);
        if (reply.status >= 200 && reply.status < 300) ok++;
        else {
          key = String(reply.status);
          sample = reply.body;
        }
      } catch (err) {
        key = errorKey(err);
        sample = err instanceof Error ? err.message : String(err);
        networkErrors++;
      }
      const ms = performance.now() - t0;
      if (key !== undefined) note(key, sample);
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = ms;
      // Nothing answers: stop instead of spinning on instant failures for the whole duration.
      if (ok === 0 && networkErrors >= UNREACHABLE_AFTER) unreachable = true;
    }
  };

  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, count).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const errors = count - ok;
  if (unreachable) console.error(`[bench] ${label}: ${networkErrors} network errors and no answer: stopped early`);
  return {
    label,
    targets: targets.length,
    concurrency: opts.concurrency,
    elapsedS: round(elapsedS, 2),
    requests: count,
    ok,
    errors,
    errorsBy,
    errorSamples,
    reqPerS: round(count / elapsedS),
    latencyMs: {
      p50: round(percentile(sorted, 50)),
      p90: round(percentile(sorted, 90)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted.length ? sorted[sorted.length - 1]! : 0),
      mean: round(count ? sum / count : 0),
    },
  };
}

/** A phase over `targets`: its unrecorded warm-up (--warmup), then the measured run. */
export async function measure(label: string, targets: string[], load: Load): Promise<PhaseResult> {
  const { opts } = load;
  if (opts.warmupS > 0) {
    log(opts, `[bench] ${label}: warm-up ${opts.warmupS} s`);
    await runPhase(label, targets, load, opts.warmupS, undefined);
  }
  const what = opts.requests !== undefined ? `${opts.requests} requests` : `${opts.durationS} s`;
  log(opts, `[bench] ${label}: ${what} at concurrency ${opts.concurrency} over ${targets.length} URL(s)`);
  return runPhase(label, targets, load, opts.durationS, opts.requests);
}

export function log(opts: Options, line: string): void {
  // Progress goes to stderr so that --json output stays parseable.
  if (!opts.json || process.stderr.isTTY) console.error(line);
}
