/**
 * The insurer's eligibility API: `POST {INSURANCE_API_URL}/v1/eligibility` with a bearer key, asked
 * whether a member is covered on a service date. The query reads and changes nothing at the
 * insurer, so retrying it is safe.
 */
import { z } from "zod";
import { DeadlineExceededError, type Deadline } from "../../core/deadline.ts";
import { NOOP_SPAN, SpanKind, type Span } from "../../core/telemetry/tracing.ts";
import { track } from "../../core/inflight.ts";

export interface InsuranceOptions {
  baseUrl: string;
  apiKey: string | undefined;
  /** One attempt's limit, within the caller's deadline. */
  timeoutMs: number;
  /** Attempts, retries included. */
  maxAttempts: number;
}

export interface EligibilityQuery {
  memberId: string;
  /** YYYY-MM-DD */
  serviceDate: string;
}

export interface EligibilityAnswer {
  covered: boolean;
  /** The insurer's plan name, when it gives one. */
  plan: string | null;
}

/**
 * How a call to the insurer failed; all but "not-configured" (no call made) count against its
 * circuit breaker.
 */
export type UpstreamFailure = "not-configured" | "network" | "timeout" | "status" | "malformed";

export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  readonly status: number | undefined;
  /** Worth another attempt: the next one may well succeed (network, timeout, 5xx). */
  readonly retriable: boolean;
  constructor(
    failure: UpstreamFailure,
    message: string,
    options: { status?: number; retriable: boolean; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "UpstreamError";
    this.failure = failure;
    this.status = options.status;
    this.retriable = options.retriable;
  }
}

/** Runs one attempt under the circuit breaker. */
export type Guard = <T>(attempt: () => Promise<T>) => Promise<T>;

/**
 * An attempt started with less than this left would be cut before the insurer could answer; it is
 * not made at all, and so not counted against the breaker (a client asking for a tiny budget must
 * not be able to open the circuit for everyone).
 */
export const MIN_ATTEMPT_MS = 50;
/** Retries wait a random 0..RETRY_JITTER_MS first, so a burst of failures does not retry in lockstep. */
const RETRY_JITTER_MS = 50;
/** A real answer is a few hundred bytes; anything this large is not one. */
const MAX_BODY_CHARS = 16_384;

const Answer = z.object({
  memberId: z.string(),
  serviceDate: z.string(),
  covered: z.boolean(),
  plan: z.string().nullable().optional(),
});

/** The only 404 that means "no such member" (a 404 from a wrong URL must not read as "not covered"). */
const MemberNotFound = z.object({ error: z.literal("member_not_found") });

/**
 * Asks the insurer, retrying safe failures (network, timeout, 5xx) while another full attempt
 * (INSURANCE_TIMEOUT_MS) fits in the deadline. The deadline running out is
 * DeadlineExceededError("upstream"); the client leaving, ClientClosedError. Each attempt made is a
 * client span under `parent`, and carries its traceparent to the insurer.
 */
export async function queryEligibility(
  options: InsuranceOptions,
  query: EligibilityQuery,
  deadline: Deadline,
  guard: Guard,
  parent: Span = NOOP_SPAN,
): Promise<EligibilityAnswer> {
  const { apiKey } = options;
  if (apiKey === undefined)
    throw new UpstreamError("not-configured", "INSURANCE_API_KEY is not set", { retriable: false });
  for (let attempt = 1; ; attempt++) {
    deadline.check("upstream");
    if (deadline.remaining() < MIN_ATTEMPT_MS) throw new DeadlineExceededError("upstream");
    try {
      return await guard(() => tracedAttempt({ ...options, apiKey }, query, deadline, parent, attempt));
    } catch (err) {
      const pause = Math.random() * RETRY_JITTER_MS;
      const again =
        err instanceof UpstreamError &&
        err.retriable &&
        attempt < options.maxAttempts &&
        deadline.remaining() >= pause + options.timeoutMs;
      if (!again) throw err;
      await deadline.race(sleep(pause), "upstream");
    }
  }
}

/** One attempt in its own span: method, URL template and status only (the body names a member). */
async function tracedAttempt(
  options: InsuranceOptions & { apiKey: string },
  query: EligibilityQuery,
  deadline: Deadline,
  parent: Span,
  attempt: number,
): Promise<EligibilityAnswer> {
  if (!parent.recording) return attemptOnce(options, query, deadline, undefined);
  const span = parent.child("POST /v1/eligibility", SpanKind.client, {
    "http.request.method": "POST",
    "url.template": "/v1/eligibility",
    "server.address": new URL(options.baseUrl).host,
    "http.request.resend_count": attempt > 1 ? attempt - 1 : undefined,
  });
  try {
    return await attemptOnce(options, query, deadline, span);
  } catch (err) {
    if (err instanceof UpstreamError) {
      span.setAttribute("error.type", err.failure);
      if (err.status !== undefined) span.setAttribute("http.response.status_code", err.status);
    }
    span.fail(err instanceof Error ? err.name : "error");
    throw err;
  } finally {
    span.end();
  }
}

async function attemptOnce(
  options: InsuranceOptions & { apiKey: string },
  query: EligibilityQuery,
  deadline: Deadline,
  span: Span | undefined,
): Promise<EligibilityAnswer> {
  const traceparent = span?.traceparent();
  // When the deadline comes first, it alone cuts the attempt: the failure is then the deadline's
  // (504 "upstream"), not a timeout racing it by a millisecond.
  const attemptTimeout = deadline.remaining() > options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined;
  const signal = attemptTimeout ? AbortSignal.any([deadline.signal, attemptTimeout]) : deadline.signal;
  let status: number;
  let body: string;
  const done = track("upstream", "insurance POST v1/eligibility");
  try {
    const res = await deadline.race(
      fetch(new URL("v1/eligibility", withSlash(options.baseUrl)), {
        method: "POST",
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          "content-type": "application/json",
          accept: "application/json",
          ...(traceparent ? { traceparent } : {}),
        },
        body: JSON.stringify(query),
        signal,
      }),
      "upstream",
    );
    status = res.status;
    span?.setAttribute("http.response.status_code", status);
    body = await deadline.race(res.text(), "upstream");
  } catch (err) {
    if (deadline.signal.aborted) throw deadline.error("upstream");
    if (attemptTimeout?.aborted) {
      throw new UpstreamError("timeout", `no answer within ${options.timeoutMs} ms`, { retriable: true, cause: err });
    }
    throw new UpstreamError("network", err instanceof Error ? err.message : String(err), {
      retriable: true,
      cause: err,
    });
  } finally {
    done();
  }
  return interpret(status, body, query);
}

function interpret(status: number, body: string, query: EligibilityQuery): EligibilityAnswer {
  if (status === 200) {
    const answer = body.length <= MAX_BODY_CHARS ? Answer.safeParse(parseJson(body)) : undefined;
    if (!answer?.success)
      throw new UpstreamError("malformed", "the answer is not an eligibility answer", { status, retriable: false });
    if (answer.data.memberId !== query.memberId || answer.data.serviceDate !== query.serviceDate) {
      throw new UpstreamError("malformed", "the answer is about another member or date", { status, retriable: false });
    }
    return { covered: answer.data.covered, plan: answer.data.plan ?? null };
  }
  if (status === 404 && MemberNotFound.safeParse(parseJson(body)).success) return { covered: false, plan: null };
  // 5xx: the insurer's trouble, maybe passing. 429 and other 4xx (a bad key, a refused request)
  // will not change on an immediate retry.
  const retriable = status >= 500;
  throw new UpstreamError("status", `the insurer answered ${status}`, { status, retriable });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function withSlash(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
