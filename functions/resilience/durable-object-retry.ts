import type { Deadline } from "../../core/deadline.ts";
import type { Labels } from "../../core/telemetry/registry.ts";
import { metrics } from "../observability/metrics.ts";

/**
 * A deploy resets every Durable Object: a call in flight to one fails with an Error whose
 * `retryable` is true, and the stub that carried it stays broken. Cloudflare's guidance
 * (durable-objects/best-practices/error-handling): retry such a call on a fresh stub when the call is
 * idempotent; never retry one marked `overloaded`, which would only add to the overload.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const flags = err as Error & { retryable?: unknown; overloaded?: unknown };
  return flags.retryable === true && flags.overloaded !== true;
}

/** One frozen label set per object and method: the retry path builds no series key per call. */
const labelsFor = new Map<string, Labels>();

/**
 * Whether a failed call should be sent once more, on a fresh stub: the failure is retryable and the
 * request's deadline has time left. Counted (durable_object_retries_total) when it says yes.
 */
function retryOnce(err: unknown, deadline: Deadline, object: string, method: string): boolean {
  if (!isRetryable(err) || deadline.remaining() <= 0) return false;
  const key = `${object}.${method}`;
  let labels = labelsFor.get(key);
  if (!labels) labelsFor.set(key, (labels = Object.freeze({ object, method })));
  metrics.objectRetries.inc(labels);
  return true;
}

/**
 * `send()`, and once more when it fails retryable while the deadline has time left. `send` must get
 * a fresh stub each time (the one that carried a reset stays broken) and be safe to repeat; the
 * happy path costs one closure and a try.
 */
export async function sendRetryingOnce<T>(
  deadline: Deadline,
  object: string,
  method: string,
  send: () => Promise<T>,
  onRetry?: () => void,
): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (!retryOnce(err, deadline, object, method)) throw err;
    onRetry?.();
    return await send();
  }
}
