import { isRedacted } from "../../core/log.ts";

/** What the one log line per request says (docs/operations.md, "Logs"). */
export interface RequestRecord {
  requestId: string;
  clientRequestId: string | undefined;
  traceId: string | undefined;
  method: string;
  route: string;
  status: number;
  durationMs: number;
  queries: number;
  /** What the middleware and handlers decided (auth, ratelimit, coalescer, breaker). */
  outcomes: Readonly<Record<string, string>>;
}

/**
 * Strings that recur on every request (methods, route templates, outcome names and values), each
 * JSON-quoted once. Bounded: a client choosing the method must not grow it without end.
 */
const quotedCache = new Map<string, string>();
const QUOTED_CACHE_MAX = 512;

function quoted(s: string): string {
  let q = quotedCache.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quotedCache.size < QUOTED_CACHE_MAX) quotedCache.set(s, q);
  }
  return q;
}

/** Ids we made or checked ourselves (UUIDs, hex trace ids, CLIENT_ID's characters): nothing to escape. */
const PLAIN = /^[\w.:=+/-]*$/;

function id(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

/**
 * Writes the request's log line, the only per-request record (invocation logs are off): the same
 * JSON as `log.info("request", {...fields, ...outcomes})`, built as one string without the
 * intermediate object, since it runs on every request (a fifth of a trivial request's CPU before).
 * Fields that are undefined are left out, as JSON.stringify does.
 */
export function logRequest(r: RequestRecord): void {
  let text = `{"level":"info","msg":"request","requestId":${id(r.requestId)}`;
  if (r.clientRequestId !== undefined) text += `,"clientRequestId":${id(r.clientRequestId)}`;
  if (r.traceId !== undefined) text += `,"traceId":${id(r.traceId)}`;
  text += `,"method":${quoted(r.method)},"route":${quoted(r.route)},"status":${num(r.status)},"durationMs":${num(r.durationMs)},"queries":${num(r.queries)}`;
  for (const key in r.outcomes) {
    const value = r.outcomes[key];
    if (value === undefined) continue;
    text += `,${quoted(key)}:${isRedacted(key) ? '"[redacted]"' : quoted(value)}`;
  }
  // The console is looked up at each call, as core/log.ts does: tests replace its methods.
  console.log(`${text}}`);
}
