import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

/** What an X-Request-Id from a client may be to be kept (and logged) at all. */
const CLIENT_ID = /^[\w.:=+/-]{1,64}$/;

/**
 * Every request gets an id of the server's own (`requestId`, answered in X-Request-Id): logs,
 * traces, problem bodies and the appointment history name it, so a client cannot make its
 * requests pass for another's. The client's own X-Request-Id, when sensible, is kept apart as
 * `clientRequestId` (logged, stored in the history, and used as the database application_name so
 * an operator can find a client's request in pg_stat_activity).
 */
export function requestIds(): MiddlewareHandler<AppEnv> {
  return async function requestIds(c, next) {
    const id = crypto.randomUUID();
    const sent = c.req.header("x-request-id");
    c.set("requestId", id);
    c.set("clientRequestId", sent !== undefined && CLIENT_ID.test(sent) ? sent : undefined);
    c.header("X-Request-Id", id);
    await next();
  };
}
