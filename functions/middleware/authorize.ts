import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { enforce, openApiPath, type Policy } from "../auth/policy.ts";
import type { AppEnv } from "../env.ts";
import { ForbiddenError } from "../http/errors.ts";
import { log } from "../../core/log.ts";

/** The operation the request was routed to, "METHOD /path/{param}"; undefined when no route matched (a 404 follows). */
export function operationOf(c: Context<AppEnv>): { method: string; template: string } | undefined {
  // Middleware is registered as method "ALL"; the last other entry is the handler that will answer.
  const handler = matchedRoutes(c).findLast((r) => r.method !== "ALL");
  return handler ? { method: handler.method, template: openApiPath(handler.path) } : undefined;
}

/**
 * Enforces the policy's role (and path ownership) part before the handler runs and before the
 * body is read or the database touched. A route the policy does not name is refused to everyone:
 * forgetting an entry must close a route, not open it.
 */
export function authorize(policy: Policy): MiddlewareHandler<AppEnv> {
  return async function authorize(c, next) {
    const op = operationOf(c);
    if (op) {
      const key = `${op.method} ${op.template}`;
      const rule = policy[key];
      if (!rule) {
        log.error("no access policy for route; refused", { requestId: c.get("requestId"), route: key });
        throw new ForbiddenError("No access policy covers this operation");
      }
      const url = new URL(c.req.url);
      enforce(rule, {
        principal: c.get("principal"),
        template: op.template,
        pathname: url.pathname,
        query: url.searchParams,
      });
    }
    await next();
  };
}
