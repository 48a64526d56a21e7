/**
 * `npm run bench -- [options]`: a small closed-loop HTTP load generator for the local stack.
 *
 * `--concurrency` workers each keep exactly one request in flight (send, read the whole body,
 * record, send the next) over keep-alive connections (node:http Agent, one socket per worker), for
 * `--duration` seconds or `--requests` requests, after an optional unrecorded `--warmup`. It only
 * talks to 127.0.0.1 / localhost / [::1]; every run is bounded in time and count and stops by itself.
 *
 * Targets, combinable (requests are spread round-robin over all of them):
 *   --url <url>            repeatable
 *   --paths </a,/b>        comma-separated paths against --base
 *   --doctor-ids           GET <base>/doctors?limit=100 first, then spread GET /doctors/:id over the ids
 * --baseline <path|url> runs that target first with the same settings, then the main targets, and
 * prints main/baseline ratios (e.g. --baseline /healthz: a one-query route against a trivial one).
 *
 * Prints requests, errors (non-2xx and network errors, broken down by status or error code, with a
 * sample body per status), req/s and latency p50/p90/p99/max in ms; --json prints the same as JSON.
 *
 * Every request carries an admin bearer token signed with the local stack's AUTH_JWT_SECRET (the
 * one `npm run dev` gives the Worker and `npm run token` signs with: dev/local.ts). All requests are
 * therefore one caller to the Worker's rate limiter: start the stack with the limits off to measure
 * anything else (USAGE shows how).
 */
import { Agent, request, type IncomingMessage } from "node:http";
import { parseArgs } from "node:util";
import { localAuthSecret } from "../dev/local.ts";
import { adminHeaders } from "./lib/auth.ts";

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);
const MAX_DURATION_S = 600;
const MAX_REQUESTS = 10_000_000;
const MAX_CONCURRENCY = 1_000;
const MAX_ID_PAGES = 10;
/** Network errors without a single answer after which a phase gives up. */
const UNREACHABLE_AFTER = 200;

const USAGE = `Usage: npm run bench -- [targets] [options]

Targets (at least one; combinable, spread round-robin):
  --url <url>              target URL (repeatable)
  --paths </a,/b>          comma-separated paths against --base
  --doctor-ids             fetch seeded doctor ids (GET /doctors?limit=100), then GET /doctors/:id over them
Options:
  --base <url>             base for --paths/--doctor-ids/--baseline paths (default http://127.0.0.1:8787)
  --baseline <path|url>    run this target first with the same settings, then report main/baseline
  -c, --concurrency <n>    requests in flight (default 50, max ${MAX_CONCURRENCY})
  -d, --duration <s>       measured seconds (default 10, max ${MAX_DURATION_S}); ignored with --requests
  -n, --requests <n>       measured request count instead of a duration (max ${MAX_REQUESTS})
  -w, --warmup <s>         unrecorded warm-up seconds before each phase (default 0)
  --timeout <ms>           per-request timeout, counted as an error (default 30000)
  --json                   print the results as JSON
  -h, --help

Requests carry an admin token signed with the local AUTH_JWT_SECRET (as \`npm run token\` makes one;
AUTH_ISSUER / AUTH_AUDIENCE from the environment when the Worker checks them). They are all one
caller: start the stack with the rate limits off, e.g.
  npm run dev -- --var RATE_LIMIT_REQUESTS:0 --var RATE_LIMIT_WRITE_REQUESTS:0 --var MAX_INFLIGHT_REQUESTS:0`;

interface Options {
  base: string;
  urls: string[];
  paths: string[];
  doctorIds: boolean;
  baseline: string | undefined;
  concurrency: number;
  durationS: number;
  requests: number | undefined;
  warmupS: number;
  timeoutMs: number;
  json: boolean;
}

interface PhaseResult {
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

class UsageError extends Error {
  override name = "UsageError";
}

function intOption(value: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number in [${min}, ${max}], got "${value}"`);
  return n;
}

/** Only loopback: this tool must never become a way to load someone else's server. */
function localUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${what} is not a URL: "${raw}"`);
  }
  if (url.protocol !== "http:") throw new UsageError(`${what} must be http:// (got ${url.protocol})`);
  if (!LOCAL_HOSTS.has(url.hostname)) {
    throw new UsageError(`${what} targets "${url.hostname}": only 127.0.0.1, localhost and [::1] are allowed`);
  }
  return url;
}

function resolveTarget(base: string, pathOrUrl: string): string {
  return /^[a-z]+:\/\//i.test(pathOrUrl) ? pathOrUrl : new URL(pathOrUrl, base).href;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: "string", multiple: true },
      paths: { type: "string" },
      base: { type: "string" },
      "doctor-ids": { type: "boolean" },
      baseline: { type: "string" },
      concurrency: { type: "string", short: "c" },
      duration: { type: "string", short: "d" },
      requests: { type: "string", short: "n" },
      warmup: { type: "string", short: "w" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  const base = localUrl(values.base ?? "http://127.0.0.1:8787", "--base").href;
  const options: Options = {
    base,
    urls: (values.url ?? []).map((u) => localUrl(u, "--url").href),
    paths: (values.paths ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== ""),
    doctorIds: values["doctor-ids"] ?? false,
    baseline:
      values.baseline === undefined ? undefined : localUrl(resolveTarget(base, values.baseline), "--baseline").href,
    concurrency: Math.floor(intOption(values.concurrency, "concurrency", 1, MAX_CONCURRENCY, 50)),
    durationS: intOption(values.duration, "duration", 0.1, MAX_DURATION_S, 10),
    requests:
      values.requests === undefined
        ? undefined
        : Math.floor(intOption(values.requests, "requests", 1, MAX_REQUESTS, 0)),
    warmupS: intOption(values.warmup, "warmup", 0, MAX_DURATION_S, 0),
    timeoutMs: intOption(values.timeout, "timeout", 1, 600_000, 30_000),
    json: values.json ?? false,
  };
  for (const p of options.paths) localUrl(resolveTarget(base, p), "--paths entry");
  if (options.urls.length === 0 && options.paths.length === 0 && !options.doctorIds) {
    throw new UsageError("no target: give --url, --paths or --doctor-ids");
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Reply {
  status: number;
  body: string;
}

/** One GET over the shared keep-alive agent; resolves with the whole body, rejects on network errors/timeout. */
function get(
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

// ---------------------------------------------------------------------------------------------
// Targets

async function doctorTargets(
  agent: Agent,
  base: string,
  auth: Record<string, string>,
  timeoutMs: number,
): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_ID_PAGES; page++) {
    const url = new URL("/doctors", base);
    url.searchParams.set("limit", "100");
    if (cursor) url.searchParams.set("cursor", cursor);
    const reply = await get(agent, url.href, auth, timeoutMs, true);
    if (reply.status !== 200)
      throw new Error(`GET ${url.pathname}${url.search} answered ${reply.status}: ${reply.body.slice(0, 300)}`);
    const json = JSON.parse(reply.body) as { data?: Array<{ id?: unknown }>; nextCursor?: unknown };
    for (const d of json.data ?? []) if (typeof d.id === "string") ids.push(d.id);
    cursor = typeof json.nextCursor === "string" ? json.nextCursor : null;
    if (!cursor) break;
  }
  if (ids.length === 0) throw new Error("GET /doctors returned no doctors: is the database seeded?");
  return ids.map((id) => new URL(`/doctors/${id}`, base).href);
}

// ---------------------------------------------------------------------------------------------
// Load

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

interface Stop {
  stopped: boolean;
}

/**
 * Closed loop: `concurrency` workers, each with one request in flight. Issues requests until the
 * deadline (or the request budget) is reached, then waits for the ones in flight.
 */
async function runPhase(
  label: string,
  targets: string[],
  opts: Options,
  agent: Agent,
  auth: Record<string, string>,
  stop: Stop,
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

async function measure(
  label: string,
  targets: string[],
  opts: Options,
  agent: Agent,
  auth: Record<string, string>,
  stop: Stop,
): Promise<PhaseResult> {
  if (opts.warmupS > 0) {
    log(opts, `[bench] ${label}: warm-up ${opts.warmupS} s`);
    await runPhase(label, targets, opts, agent, auth, stop, opts.warmupS, undefined);
  }
  const what = opts.requests !== undefined ? `${opts.requests} requests` : `${opts.durationS} s`;
  log(opts, `[bench] ${label}: ${what} at concurrency ${opts.concurrency} over ${targets.length} URL(s)`);
  return runPhase(label, targets, opts, agent, auth, stop, opts.durationS, opts.requests);
}

// ---------------------------------------------------------------------------------------------
// Output

function log(opts: Options, line: string): void {
  // Progress goes to stderr so that --json output stays parseable.
  if (!opts.json || process.stderr.isTTY) console.error(line);
}

function describe(r: PhaseResult): string {
  const lines = [
    `${r.label}  (${r.targets} URL(s), concurrency ${r.concurrency}, ${r.elapsedS} s)`,
    `  requests  ${r.requests}`,
    `  errors    ${r.errors}${
      r.errors
        ? "  " +
          Object.entries(r.errorsBy)
            .map(([k, v]) => `${k}: ${v}`)
            .join(", ")
        : ""
    }`,
    `  req/s     ${r.reqPerS}`,
    `  latency   p50 ${r.latencyMs.p50} ms  p90 ${r.latencyMs.p90} ms  p99 ${r.latencyMs.p99} ms  max ${r.latencyMs.max} ms  (mean ${r.latencyMs.mean} ms)`,
  ];
  for (const [k, body] of Object.entries(r.errorSamples)) lines.push(`  sample ${k}: ${body}`);
  if (r.errorsBy["429"])
    lines.push(
      `  429s: the Worker's rate limit (all requests are one caller); see --help for starting dev with limits off`,
    );
  if (r.errorsBy["401"])
    lines.push(
      `  401s: the Worker does not verify the token; is it the stack \`npm run dev\` started from this checkout (same .data/)?`,
    );
  return lines.join("\n");
}

async function main(): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`[bench] ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }

  const stop: Stop = { stopped: false };
  process.once("SIGINT", () => {
    stop.stopped = true;
    console.error("[bench] interrupted: finishing the requests in flight");
  });

  // One socket per worker, kept alive between requests; the id look-up shares the agent.
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency, maxFreeSockets: opts.concurrency });
  try {
    // The same secret and claims as `npm run token -- --role admin` (dev/token.ts).
    const { secret, source } = localAuthSecret();
    log(opts, `[bench] admin token signed with the secret from ${source}`);
    const auth = await adminHeaders({
      secret,
      sub: "bench-load",
      issuer: process.env.AUTH_ISSUER,
      audience: process.env.AUTH_AUDIENCE,
    });
    const targets = [...opts.urls, ...opts.paths.map((p) => resolveTarget(opts.base, p))];
    if (opts.doctorIds) {
      const doctors = await doctorTargets(agent, opts.base, auth, opts.timeoutMs);
      log(opts, `[bench] ${doctors.length} doctor ids from ${new URL("/doctors?limit=100", opts.base).href}`);
      targets.push(...doctors);
    }
    const mainLabel =
      opts.doctorIds && targets.length > 0 && opts.urls.length + opts.paths.length === 0
        ? "GET /doctors/:id"
        : targets.length === 1
          ? `GET ${new URL(targets[0]!).pathname}`
          : `${targets.length} targets`;

    const results: PhaseResult[] = [];
    if (opts.baseline)
      results.push(
        await measure(`GET ${new URL(opts.baseline).pathname} (baseline)`, [opts.baseline], opts, agent, auth, stop),
      );
    if (!stop.stopped) results.push(await measure(mainLabel, targets, opts, agent, auth, stop));

    const [first, second] = results;
    const ratio =
      opts.baseline && first && second && first.reqPerS > 0
        ? {
            reqPerS: round(second.reqPerS / first.reqPerS, 3),
            p50: first.latencyMs.p50 > 0 ? round(second.latencyMs.p50 / first.latencyMs.p50, 2) : null,
          }
        : undefined;

    if (opts.json) {
      console.log(JSON.stringify({ phases: results, ratio: ratio ? { mainOverBaseline: ratio } : undefined }, null, 2));
    } else {
      console.log("");
      console.log(results.map(describe).join("\n\n"));
      if (ratio) {
        console.log(
          `\nratio ${second!.label} / baseline: req/s ${ratio.reqPerS} (${round(1 / ratio.reqPerS, 2)}x slower), p50 latency x${ratio.p50}`,
        );
      }
    }
    return results.some((r) => r.errors > 0) ? 1 : 0;
  } catch (err) {
    console.error(`[bench] ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    agent.destroy();
  }
}

process.exitCode = await main();
