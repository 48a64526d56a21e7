import type { Context } from "hono";
import { couldBeRowId } from "../../../db/schema/columns.ts";
import { ApiError } from "../../http/errors.ts";
import { ClientClosedError, DeadlineExceededError } from "../../../core/deadline.ts";
import type { AppEnv } from "../../env.ts";
import { track } from "../../../core/inflight.ts";
import { metrics } from "../../observability/metrics.ts";
import { SpanKind } from "../../../core/telemetry/tracing.ts";
import type { CoalescedOutcome, CoalescedReply } from "./object.ts";
import { keyOf, runLoad, type LoadRequest, type LoadResult } from "./loaders.ts";
import { errorText, log } from "../../../core/log.ts";
import { sendRetryingOnce } from "../durable-object-retry.ts";

function coalescerOf(c: Context<AppEnv>, doctorId: string) {
  return c.env.COALESCER.get(c.env.COALESCER.idFromName(`doctor:${doctorId}`));
}

function report(c: Context<AppEnv>, outcome: CoalescedOutcome | "fallback" | "impossible-id"): void {
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
  // A public read of an id that cannot exist would cost an object and a load: answered here.
  if (!couldBeRowId(request.doctorId)) {
    report(c, "impossible-id");
    return null;
  }
  const deadline = c.var.deadline;
  // The hop's span; its traceparent goes into the object, which records its own part under it.
  const hop = c.var.span.child("Coalescer.load", SpanKind.client, {
    "rpc.system": "cloudflare_durable_object",
    "rpc.service": "Coalescer",
    "rpc.method": "load",
    // The loader's name only: the key holds the requested date.
    "coalescer.loader": request.loader,
  });
  let reply: CoalescedReply;
  const waiting = track("do-wait", `Coalescer.load ${request.loader}`);
  try {
    try {
      // A reset object (a deploy) is asked once more: a new instance that loads afresh.
      reply = await sendRetryingOnce(
        deadline,
        "Coalescer",
        "load",
        () =>
          deadline.race(
            coalescerOf(c, request.doctorId).load(request, deadline.remaining(), hop.traceparent()),
            "coalescer",
          ),
        () => hop.setAttribute("rpc.retried", true),
      );
    } finally {
      waiting();
    }
    hop.setAttribute(
      "coalescer.outcome",
      reply.kind === "value" || reply.kind === "error" ? (reply.outcome ?? "load") : reply.kind,
    );
    if (reply.kind !== "value") hop.fail(reply.kind);
  } catch (err) {
    hop.fail(err instanceof Error ? err.name : "error");
    const requestOver = err instanceof DeadlineExceededError || err instanceof ClientClosedError;
    // The direct load's SQL spans then hang under the server span, next to this failed hop.
    if (!requestOver) hop.setAttribute("coalescer.outcome", "fallback");
    hop.end();
    if (requestOver) throw err;
    log.warn("coalescer unavailable, loading directly", {
      requestId: c.var.requestId,
      key: keyOf(request),
      error: errorText(err),
    });
    report(c, "fallback");
    return runLoad(request, c.var.requestDb, deadline);
  }
  hop.end();
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
  // A hop span only: invalidating is a few map deletions, nothing inside the object worth a span.
  const hop = c.var.span.child("Coalescer.invalidate", SpanKind.client, {
    "rpc.system": "cloudflare_durable_object",
    "rpc.service": "Coalescer",
    "rpc.method": "invalidate",
  });
  const deadline = c.var.deadline;
  try {
    // Dropping keys twice is harmless, and a new instance may already hold a load begun before the write.
    await sendRetryingOnce(deadline, "Coalescer", "invalidate", () =>
      deadline.race(coalescerOf(c, doctorId).invalidate(keys), "coalescer"),
    );
  } catch (err) {
    hop.fail(err instanceof Error ? err.name : "error");
    if (err instanceof ClientClosedError) return;
    log.warn("cache invalidation failed; stale reads possible until the TTL", {
      requestId: c.var.requestId,
      doctorId,
      error: errorText(err),
    });
  } finally {
    hop.end();
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
