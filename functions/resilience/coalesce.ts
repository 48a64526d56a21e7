import type { Context } from "hono";
import { ApiError } from "../errors.ts";
import { ClientClosedError, DeadlineExceededError } from "../deadline.ts";
import type { AppEnv } from "../env.ts";
import { metrics } from "../observability/metrics.ts";
import type { CoalescedOutcome, CoalescedReply } from "./coalescer.ts";
import { keyOf, runLoad, type LoadRequest, type LoadResult } from "./loaders.ts";

function coalescerOf(c: Context<AppEnv>, doctorId: string) {
  return c.env.COALESCER.get(c.env.COALESCER.idFromName(`doctor:${doctorId}`));
}

function report(c: Context<AppEnv>, outcome: CoalescedOutcome | "fallback"): void {
  c.header("Server-Timing", `coalescer;desc="${outcome}"`, { append: true });
  c.var.outcomes.coalescer = outcome;
  metrics.coalescer.inc({ outcome });
}

/**
 * A read through the doctor's Coalescer: joins the one load in flight or takes the cached value.
 * The caller waits no longer than its own deadline (the object is told the remaining budget and
 * answers "timeout" in time); the load itself is not the caller's to cancel. When the object
 * cannot be reached (error, overload), the read degrades to a direct load rather than failing.
 */
export async function coalesced<R extends LoadRequest>(c: Context<AppEnv>, request: R): Promise<LoadResult<R> | null> {
  const deadline = c.var.deadline;
  let reply: CoalescedReply;
  try {
    reply = await deadline.race(coalescerOf(c, request.doctorId).load(request, deadline.remaining()), "coalescer");
  } catch (err) {
    if (err instanceof DeadlineExceededError || err instanceof ClientClosedError) throw err;
    console.error(
      JSON.stringify({
        level: "warn",
        msg: "coalescer unavailable, loading directly",
        requestId: c.var.requestId,
        key: keyOf(request),
        error: err instanceof Error ? err.message : String(err),
      }),
    );
    report(c, "fallback");
    return runLoad(request, c.var.requestDb, deadline);
  }
  switch (reply.kind) {
    case "value":
      report(c, reply.outcome ?? "load");
      return reply.value as LoadResult<R> | null;
    case "timeout":
      throw deadline.error("coalescer");
    case "error":
      report(c, reply.outcome ?? "load");
      if (reply.reason === "deadline") throw new DeadlineExceededError("coalescer");
      throw new ApiError("service-unavailable", "The data could not be loaded; try again");
  }
}

/**
 * Drops a doctor's cached reads after a write, before the write's response goes out, so the
 * writer never reads its own write stale. The write has committed either way: if the object
 * cannot be reached, the failure is logged and the stale window is the TTL (COALESCER_TTL_MS).
 */
export async function invalidateDoctor(c: Context<AppEnv>, doctorId: string, keys?: string[]): Promise<void> {
  try {
    await c.var.deadline.race(coalescerOf(c, doctorId).invalidate(keys), "coalescer");
  } catch (err) {
    if (err instanceof ClientClosedError) return;
    console.error(
      JSON.stringify({
        level: "warn",
        msg: "cache invalidation failed; stale reads possible until the TTL",
        requestId: c.var.requestId,
        doctorId,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }
}

/** The availability keys a booking or cancellation touches: the UTC days its interval spans. */
export function availabilityKeys(startsAt: Date, endsAt: Date): string[] {
  const keys: string[] = [];
  const day = new Date(Date.UTC(startsAt.getUTCFullYear(), startsAt.getUTCMonth(), startsAt.getUTCDate()));
  for (; day.getTime() < endsAt.getTime(); day.setUTCDate(day.getUTCDate() + 1)) {
    keys.push(keyOf({ loader: "availability", doctorId: "", date: day.toISOString().slice(0, 10) }));
  }
  return keys;
}
