/**
 * How a soak caller talks to the API: the way a good client would. Each attempt carries an
 * X-Request-Id of its own (`soak-<op>-<attempt>`, which the server stores with any appointment
 * event it writes, so the checker can tell which attempt made which change); retries keep the
 * same Idempotency-Key and body, back off exponentially with jitter and honour Retry-After. Every
 * attempt lands in the history, answered or not.
 */
import { type Attempt, type History, keptHeaders } from "./history.ts";
import type { Random } from "./random.ts";

/** One attempt's budget: past it the client gives up on the answer (and retries). */
const ATTEMPT_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 6;
const BACKOFF_BASE_MS = 200;
const BACKOFF_MAX_MS = 3_000;
/** A Retry-After longer than this is capped: the soak's clients are patient, not infinitely. */
const RETRY_AFTER_MAX_MS = 5_000;

export interface Call {
  op: number;
  kind: string;
  method: "GET" | "POST" | "PATCH" | "PUT";
  path: string;
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Outcome {
  /** The last attempt's answer; undefined when none of them got one. */
  status?: number;
  json?: unknown;
  headers?: Record<string, string>;
}

export interface ClientContext {
  base: string;
  history: History;
  random: Random;
  /** ms since the load started. */
  now(): number;
  /** While the client-disconnects fault runs: the share of attempts the client hangs up on. */
  disconnectShare(): number;
  /** Aborted when the load must stop: no new retries start. */
  stop: AbortSignal;
}

const retryable = (status: number | undefined, answer: string | undefined): boolean =>
  status === undefined ||
  status >= 500 ||
  status === 429 ||
  // The same Idempotency-Key still running: the server asks to retry shortly.
  (status === 409 && (answer ?? "").includes("still being processed"));

function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  const v = headers?.["retry-after"];
  const s = v === undefined ? Number.NaN : Number(v);
  return Number.isFinite(s) ? Math.min(RETRY_AFTER_MAX_MS, s * 1_000) : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `call` until it gets an answer that is not worth retrying, or gives up. */
export async function send(ctx: ClientContext, call: Call): Promise<Outcome> {
  let outcome: Outcome = {};
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const a = await once(ctx, call, attempt);
    outcome = a.status === undefined ? {} : { status: a.status, headers: a.headers, json: parse(a.answer) };
    if (!retryable(a.status, a.answer) || ctx.stop.aborted || attempt === MAX_ATTEMPTS) break;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)) * (0.5 + ctx.random.next());
    await sleep(Math.max(backoff, retryAfterMs(a.headers) ?? 0));
  }
  return outcome;
}

function parse(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function once(ctx: ClientContext, call: Call, attempt: number): Promise<Attempt> {
  const requestHeaders: Record<string, string> = {
    "x-request-id": `soak-${call.op}-${attempt}`,
    ...(call.token ? { authorization: `Bearer ${call.token}` } : {}),
    ...(call.body === undefined ? {} : { "content-type": "application/json" }),
    ...call.headers,
  };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timeout")), ATTEMPT_TIMEOUT_MS);
  // A client that hangs up mid-request: after 1–20 ms, while the request is on its way or being served.
  const hangUp =
    ctx.random.next() < ctx.disconnectShare()
      ? setTimeout(() => controller.abort(new Error("client hung up")), ctx.random.int(1, 20))
      : undefined;
  const startMs = ctx.now();
  const record: Attempt = {
    op: call.op,
    kind: call.kind,
    attempt,
    method: call.method,
    path: call.path,
    requestHeaders: { ...requestHeaders, ...(requestHeaders.authorization ? { authorization: "Bearer …" } : {}) },
    ...(call.body === undefined ? {} : { body: call.body }),
    startMs,
    endMs: startMs,
  };
  try {
    const res = await fetch(ctx.base + call.path, {
      method: call.method,
      headers: requestHeaders,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: controller.signal,
    });
    record.answer = await res.text();
    record.status = res.status;
    record.headers = keptHeaders(res.headers);
  } catch (err) {
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : err;
    record.error = reason instanceof Error ? reason.message : String(reason);
  } finally {
    clearTimeout(timer);
    if (hangUp) clearTimeout(hangUp);
  }
  record.endMs = ctx.now();
  ctx.history.record(record);
  return record;
}
