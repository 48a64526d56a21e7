/**
 * A deploy resets every Durable Object: a call in flight fails with an Error marked `retryable` and
 * its stub stays broken. The clients send such a call once more on a fresh stub (counted in
 * durable_object_retries_total); an `overloaded` failure is never retried. The fault is injected at
 * the binding, as the platform would raise it: the namespace's first stubs fail, later ones are real.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newApp } from "../../../functions/app.ts";
import { metrics } from "../../../functions/observability/metrics.ts";
import { ORIGIN, json } from "../../helpers/api.ts";
import { clientIp, workerWith } from "../../helpers/app.ts";
import { doctorWithSchedule, slot } from "../../helpers/factories.ts";

interface Availability {
  slots: Array<{ startsAt: string }>;
}

/** The error a call in flight gets when a deploy resets its object. */
function resetError(flags: { overloaded?: boolean } = {}): Error {
  return Object.assign(new Error("Durable Object reset because its code was updated."), { retryable: true, ...flags });
}

/** env.COALESCER whose first `failing` stubs reject every call with `error`; `stubs()` counts the stubs made. */
function coalescerFailing(failing: number, error: () => Error) {
  let made = 0;
  const namespace = {
    idFromName: (name: string) => env.COALESCER.idFromName(name),
    get: (id: DurableObjectId) => {
      made++;
      if (made > failing) return env.COALESCER.get(id);
      return { load: () => Promise.reject(error()), invalidate: () => Promise.reject(error()) };
    },
  } as unknown as typeof env.COALESCER;
  return { namespace, stubs: () => made };
}

const retriedLoads = () => metrics.objectRetries.get({ object: "Coalescer", method: "load" });

async function availability(coalescer: typeof env.COALESCER): Promise<Response> {
  const doctor = await doctorWithSchedule();
  const ctx = createExecutionContext();
  const date = slot(20).startsAt.slice(0, 10);
  const res = await newApp().fetch(
    new Request(`${ORIGIN}/doctors/${doctor.id}/availability?date=${date}`),
    { ...env, COALESCER: coalescer },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const outcomeOf = (res: Response) => /coalescer;desc="(\w+)"/.exec(res.headers.get("server-timing") ?? "")?.[1];

describe("a Durable Object call that fails because its object was reset", () => {
  it("is sent once more on a fresh stub, answered by the new instance, and counted", async () => {
    const { namespace, stubs } = coalescerFailing(1, () => resetError());
    const before = retriedLoads();
    const res = await availability(namespace);
    expect(outcomeOf(res)).toBe("load");
    expect((await json<Availability>(res, 200)).slots).toHaveLength(6);
    expect(stubs()).toBe(2);
    expect(retriedLoads()).toBe(before + 1);
  });

  it("is sent only once more: a second failure falls back to a direct load", async () => {
    const { namespace, stubs } = coalescerFailing(2, () => resetError());
    const res = await availability(namespace);
    expect(outcomeOf(res)).toBe("fallback");
    expect((await json<Availability>(res, 200)).slots).toHaveLength(6);
    expect(stubs()).toBe(2);
  });

  it("is not retried when the object is overloaded", async () => {
    const { namespace, stubs } = coalescerFailing(1, () => resetError({ overloaded: true }));
    const before = retriedLoads();
    const res = await availability(namespace);
    expect(outcomeOf(res)).toBe("fallback");
    expect(stubs()).toBe(1);
    expect(retriedLoads()).toBe(before);
  });

  it("is not retried when the error does not say it may be", async () => {
    const { namespace, stubs } = coalescerFailing(1, () => new Error("Durable Object reset"));
    const res = await availability(namespace);
    expect(outcomeOf(res)).toBe("fallback");
    expect(stubs()).toBe(1);
  });
});

describe("a rate limiter call that fails because its object was reset", () => {
  it("is decided by the new instance, not failed open", async () => {
    let made = 0;
    const resetOnce = {
      idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
      get: (id: DurableObjectId) =>
        ++made === 1 ? { take: () => Promise.reject(resetError()) } : env.RATE_LIMITER.get(id),
    } as unknown as Env["RATE_LIMITER"];
    const worker = workerWith({
      RATE_LIMIT_REQUESTS: "3",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      RATE_LIMIT_TIMEOUT_MS: "10000",
      RATE_LIMITER: resetOnce,
    });
    const ip = clientIp();
    const res = await worker.fetch("/metrics", {
      as: { role: "admin", sub: `ops-${ip}` },
      headers: { "cf-connecting-ip": ip },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit")).toBe('"default";r=2;t=60');
    expect(made).toBe(2);
  });
});
