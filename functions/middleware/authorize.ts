import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { enforce, openApiPath, type Policy, type Rule } from "../auth/policy.ts";
import type { AppEnv } from "../env.ts";
import { ForbiddenError } from "../http/errors.ts";
import { log } from "../../core/log.ts";

/** What authorize() needs of one operation, worked out once per isolate. */
interface Operation {
  key: string;
  template: string;
  rule: Rule | undefined;
  /** Whether the rule reads the path or the query (ownership by path, a query restriction). */
  readsUrl: boolean;
}

const NO_QUERY = new URLSearchParams();

/**
 * Enforces the policy's role (and path ownership) part before the handler runs and before the
 * body is read or the database touched. A route the policy does not name is refused to everyone:
 * forgetting an entry must close a route, not open it.
 */
export function authorize(policy: Policy): MiddlewareHandler<AppEnv> {
  // Keyed by the matched handler's "METHOD path": one entry per route, so bounded by the app.
  const operations = new Map<string, Operation>();
  const operation = (method: string, path: string): Operation => {
    const cacheKey = `${method} ${path}`;
    let op = operations.get(cacheKey);
    if (!op) {
      const template = openApiPath(path);
      const key = `${method} ${template}`;
      const rule = policy[key];
      op = { key, template, rule, readsUrl: rule?.restrict !== undefined || rule?.owner?.by === "path" };
      operations.set(cacheKey, op);
    }
    return op;
  };
  return async function authorize(c, next) {
    // Middleware is registered as method "ALL"; the last other entry is the handler that will answer.
    const handler = matchedRoutes(c).findLast((r) => r.method !== "ALL");
    if (handler) {
      const { key, template, rule, readsUrl } = operation(handler.method, handler.path);
      if (!rule) {
        log.error("no access policy for route; refused", { requestId: c.get("requestId"), route: key });
        throw new ForbiddenError("No access policy covers this operation");
      }
      // Parsing the URL is left to the rules that read it: most answer from the role alone.
      const url = readsUrl ? new URL(c.req.url) : undefined;
      enforce(rule, {
        principal: c.get("principal"),
        template,
        pathname: url?.pathname ?? c.req.path,
        query: url?.searchParams ?? NO_QUERY,
      });
    }
    await next();
  };
}
