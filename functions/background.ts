import type { Context } from "hono";
import { Deadline } from "./deadline.ts";
import type { AppEnv } from "./env.ts";
import { track } from "./observability/inflight.ts";

/**
 * Hands post-response work to ctx.waitUntil with a budget of its own (BACKGROUND_TIMEOUT_MS): the
 * runtime keeps the isolate alive for it, and the budget keeps one stuck task from holding it.
 * The task gets the Deadline to pass on; a failure is logged, never thrown at nobody.
 */
export function inBackground(c: Context<AppEnv>, name: string, task: (deadline: Deadline) => Promise<unknown>): void {
  const deadline = Deadline.start(c.var.config.budget.backgroundMs);
  const requestId = c.var.requestId;
  const done = track("background", name);
  c.executionCtx.waitUntil(
    deadline.race(task(deadline), "background").finally(done).then(
      () => undefined,
      (err: unknown) => {
        console.error(
          JSON.stringify({
            level: "warn",
            msg: "background task failed",
            task: name,
            requestId,
            error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          }),
        );
      },
    ),
  );
}
