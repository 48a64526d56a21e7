/**
 * The lab's stand-in for a deploy's effect on Durable Objects. On Workers a deploy lets the old
 * version's in-flight requests finish but resets every Durable Object: a call in flight to one fails
 * with an Error marked `retryable`, and its in-memory state is gone. workerd resets objects the same
 * way (`abortAllDurableObjects`, the lab's workerd only: compatibility flag `unsafe_module`), but its
 * error carries no `retryable`; `withDeployResets` marks that one error as the edge marks a deploy's,
 * so the app's own handling (functions/resilience/durable-object-retry.ts) meets what it would meet.
 */
import workerdUnsafe from "workerd:unsafe";
import type { Context } from "hono";
import type { AppEnv } from "../../functions/env.ts";

/** The message of a call in flight when workerd's objects are reset. */
const RESET_MESSAGE = "Application called abortAllDurableObjects().";

/** POST /__lab/deploy: every Durable Object reset at once, as a deploy does. */
export async function deploy(c: Context<AppEnv>): Promise<Response> {
  await workerdUnsafe.abortAllDurableObjects();
  return c.json({ reset: true });
}

function markReset(err: unknown): never {
  if (err instanceof Error && err.message === RESET_MESSAGE) Object.assign(err, { retryable: true });
  throw err;
}

function markedStub<T extends object>(stub: T): T {
  return new Proxy(stub, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      // An RPC call's promise (JsRpcPromise) takes no `then(undefined, ...)`: awaited instead.
      return async (...args: unknown[]): Promise<unknown> => {
        try {
          return await (Reflect.apply(value, target, args) as Promise<unknown>);
        } catch (err) {
          return markReset(err);
        }
      };
    },
  });
}

function markedNamespace<T extends object>(namespace: T): T {
  return new Proxy(namespace, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (property !== "get" && property !== "getByName")
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return (...args: unknown[]) => markedStub(Reflect.apply(value as (...a: unknown[]) => object, target, args));
    },
  });
}

const wrapped = new WeakMap<Env, Env>();

/** `env` with its Durable Object namespaces' reset errors marked retryable (one wrapper per env object). */
export function withDeployResets(env: Env): Env {
  let marked = wrapped.get(env);
  if (!marked) {
    marked = {
      ...env,
      BREAKER: markedNamespace(env.BREAKER),
      COALESCER: markedNamespace(env.COALESCER),
      RATE_LIMITER: markedNamespace(env.RATE_LIMITER),
    };
    wrapped.set(env, marked);
  }
  return marked;
}
