/**
 * `npm run bench`'s command line: the targets, the load's shape and its bounds, checked; only
 * loopback targets are accepted.
 */
import { parseArgs } from "node:util";

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);
const MAX_DURATION_S = 600;
const MAX_REQUESTS = 10_000_000;
const MAX_CONCURRENCY = 1_000;

export const USAGE = `Usage: npm run bench -- [targets] [options]

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

export interface Options {
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

/** `pathOrUrl` as a URL: as it is when it has a scheme, else against `base`. */
export function resolveTarget(base: string, pathOrUrl: string): string {
  return /^[a-z]+:\/\//i.test(pathOrUrl) ? pathOrUrl : new URL(pathOrUrl, base).href;
}

/** The options in `argv`; undefined for --help. Throws a UsageError on a bad one. */
export function parseOptions(argv: string[]): Options | undefined {
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
