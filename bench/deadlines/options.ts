/** bench:deadlines' command line: its flags, their usage text, and the options the rounds use. */
import { type Flag, parseFlags, usage } from "../lib/cli.ts";
import { DATABASE_NOTE } from "../lib/stack.ts";

const FLAGS = {
  requests: { short: "n", arg: "n", help: "requests per Worker", default: 50, min: 1, max: 500 },
  budget: { short: "b", arg: "ms", help: "each request's budget", default: 200, min: 10, max: 10_000 },
  concurrency: {
    short: "c",
    arg: "n",
    help: "requests in flight at once; 1 is sequential",
    default: 1,
    min: 1,
    max: 20,
  },
  paths: { arg: "http,ws", help: "clinic-edge's DB_QUERY_PATH values to measure", default: "http,ws" },
  "no-baseline": { switch: true, help: "skip the Hono timeout() Worker" },
  "bound-ms": {
    arg: "ms",
    help: "how long a backend may outlive its response (then the lock is released)",
    default: 2_000,
    min: 100,
    max: 60_000,
  },
  "drain-ms": {
    arg: "ms",
    help: "after the release, how long to wait for the remaining backends",
    default: 10_000,
    min: 100,
    max: 60_000,
  },
  "poll-ms": { arg: "ms", help: "pg_stat_activity polling period", default: 5, min: 1, max: 100 },
  warmup: {
    arg: "n",
    help: "unmeasured requests per Worker on an unlocked doctor first",
    default: 5,
    min: 0,
    max: 100,
  },
  "max-seconds": {
    arg: "s",
    help: "stop everything after this long, whatever happens",
    default: 900,
    min: 10,
    max: 3_600,
  },
  verbose: { switch: true, help: "echo the Workers' own log lines" },
  json: { switch: true, help: "print the results as JSON (progress still goes to stderr)" },
} satisfies Record<string, Flag>;

export const USAGE = usage("npm run bench:deadlines --", FLAGS, DATABASE_NOTE);

type Path = "http" | "ws";
const isPath = (p: string): p is Path => p === "http" || p === "ws";

/** The flags as the bench uses them (the JSON report's `options`); undefined for --help. */
export function parseOptions(argv: string[]) {
  const f = parseFlags(FLAGS, argv);
  if (!f) return undefined;
  const paths = [
    ...new Set(
      f.paths
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p !== ""),
    ),
  ];
  const bad = paths.find((p) => !isPath(p));
  if (bad !== undefined) throw new Error(`--paths takes http and/or ws, got "${bad}"`);
  return {
    requests: f.requests,
    budgetMs: f.budget,
    concurrency: f.concurrency,
    paths: paths.filter(isPath),
    baseline: !f["no-baseline"],
    boundMs: f["bound-ms"],
    drainMs: f["drain-ms"],
    pollMs: f["poll-ms"],
    warmup: f.warmup,
    maxSeconds: f["max-seconds"],
    verbose: f.verbose,
    json: f.json,
  };
}

export type Options = NonNullable<ReturnType<typeof parseOptions>>;
