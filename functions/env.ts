import type { RequestDb } from "../db/client.ts";
import type { Principal } from "./auth/principal.ts";
import type { Config } from "./config/index.ts";
import type { Deadline } from "../core/deadline.ts";
import type { Span } from "../core/telemetry/tracing.ts";
import type { UnauthorizedError } from "./http/errors.ts";

/** The one Hono environment of the Worker: bindings from wrangler.toml, per-request variables. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    /** The server's id of this request (X-Request-Id of the response). */
    requestId: string;
    /** The X-Request-Id the client sent, when it looked like one: logged, never trusted. */
    clientRequestId: string | undefined;
    config: Config;
    /** This request's database: a Pool opened on first use and ended after the response. */
    requestDb: RequestDb;
    /** This request's budget: pass it to every database, upstream and Durable Object call. */
    deadline: Deadline;
    /** The budget the client asked for (X-Request-Timeout-Ms), if any. */
    requestedBudgetMs: number | undefined;
    /** How shared machinery served this request (coalescer: hit/load..., breaker: open...), for the request log. */
    outcomes: Record<string, string>;
    /** This request's server span (NOOP_SPAN when not traced): the parent of its DB, DO and upstream spans. */
    span: Span;
    /** The caller, from a valid bearer token; undefined: anonymous (the policy decides what that may do). */
    principal: Principal | undefined;
    /** A bearer token that did not verify: answered 401 once the rate limiter has counted it. */
    authRefusal?: UnauthorizedError | undefined;
    /** Set when the request is traced, for the log line. */
    traceId: string | undefined;
  };
}
