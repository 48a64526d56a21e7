import type { Context } from "hono";
import { Deadline } from "../../core/deadline.ts";
import type { AppEnv } from "../env.ts";
import { track } from "../../core/inflight.ts";
import type { Span } from "../../core/telemetry/tracing.ts";
import { log } from "../../core/log.ts";

/**
 * Hands post-response work to ctx.waitUntil with a budget of its own (BACKGROUND_TIMEOUT_MS): the
 * runtime keeps the isolate alive for it, and the budget keeps one stuck task from holding it.
 * The task gets the Deadline to pass on; a failure is logged, never thrown at nobody.
 *
 * Spans the task ends under the request's trace (a Durable Object hop made after the response)
 * are exported when it ends, within the same budget: the request's own export has left by then.
 */
export function inBackground(c: Context<AppEnv>, name: string, task: (deadline: Deadline) => Promise<unknown>): void {
  const deadline = Deadline.start(c.get("config").budget.backgroundMs);
  const requestId = c.get("requestId");
  // Unset only when a request failed before the trace middleware ran.
  const span = c.get("span") as Span | undefined;
  const done = track("background", name);
  const run = async (): Promise<unknown> => {
    try {
      return await task(deadline);
    } finally {
      const send = span?.flushTrace();
      if (send) await send(deadline.signal);
    }
  };
  c.executionCtx.waitUntil(
    deadline
      .race(run(), "background")
      .finally(done)
      .then(
        () => undefined,
        (err: unknown) => {
          log.warn("background task failed", {
            task: name,
            requestId,
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          });
        },
      ),
  );
}
