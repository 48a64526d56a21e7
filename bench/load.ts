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
import { Agent } from "node:http";
import { localAuthSecret } from "../dev/local.ts";
import { adminHeaders } from "./lib/auth.ts";
import { StatusTally, refuseOnFailures } from "./lib/failures.ts";
import { parseCommandLine } from "./lib/cli.ts";
import { USAGE, parseOptions, resolveTarget } from "./load/options.ts";
import { type Load, type PhaseResult, get, log, measure, round } from "./load/phase.ts";

const MAX_ID_PAGES = 10;

/** GET /doctors/:id URLs for the doctors GET /doctors lists (up to MAX_ID_PAGES pages of 100). */
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
  const opts = parseCommandLine(parseOptions, USAGE, "[bench]");
  if (typeof opts === "number") return opts;

  const stop = { stopped: false };
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

    const load: Load = { opts, agent, auth, stop };
    const results: PhaseResult[] = [];
    if (opts.baseline)
      results.push(await measure(`GET ${new URL(opts.baseline).pathname} (baseline)`, [opts.baseline], load));
    if (!stop.stopped) results.push(await measure(mainLabel, targets, load));

    const [first, second] = results;
    const ratio =
      opts.baseline && first && second && first.reqPerS > 0
        ? {
            reqPerS: round(second.reqPerS / first.reqPerS, 3),
            p50: first.latencyMs.p50 > 0 ? round(second.latencyMs.p50 / first.latencyMs.p50, 2) : null,
          }
        : undefined;

    for (const r of results) {
      const statuses = new StatusTally();
      statuses.add(200, r.requests - r.errors);
      for (const [status, n] of Object.entries(r.errorsBy)) statuses.add(status, n);
      refuseOnFailures(r.label, statuses);
    }

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
