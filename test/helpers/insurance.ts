import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { newApp } from "../../functions/app.ts";
import { loadConfig } from "../../functions/config/index.ts";
import type { BreakerArgs, BreakerObjectStats } from "../../functions/resilience/breaker/object.ts";
import { ORIGIN } from "./api.ts";
import { authHeader } from "./auth.ts";

/**
 * A member id unique to the caller, whose prefix picks the stand-in's behaviour (dev/insurance.ts):
 * "OK" covered, "NC" not covered, "NF" unknown to the insurer, "ERR" 503, "RST" connection reset,
 * "BAD" malformed answer, "FLAKY" 503 once, "SLOW<ms>" slow.
 */
export function memberId(scenario: string): string {
  return `${scenario}-${crypto.randomUUID().slice(0, 8)}`.toUpperCase();
}

export interface StandInStats {
  requests: number;
  answered: number;
  failed: number;
  /** The traceparent header of the latest request for this member id, if it carried one. */
  lastTraceparent?: string;
}

/** What reached the insurer's stand-in for one member id: counted there, not by the Worker. */
export async function standInStats(member: string): Promise<StandInStats> {
  const res = await fetch(`${inject("insuranceUrl")}/__stats?memberId=${encodeURIComponent(member)}`);
  return res.json<StandInStats>();
}

/** Overrides for the Worker's variables (not its bindings). */
export type EnvOverrides = { [K in keyof Env as Env[K] extends string ? K : never]?: string };

/**
 * The Worker with a circuit breaker of its own (a unique INSURANCE_BREAKER_NAME: its own Durable
 * Object and its own view in this isolate) and the given settings, so a test can open it without
 * touching any other test's. Each fetch waits for the request's background work (reports to the
 * breaker's object), as the runtime would before the isolate could be evicted.
 */
export function withOwnBreaker(overrides: EnvOverrides = {}) {
  const name = `test-${crypto.randomUUID()}`;
  const testEnv: Env = { ...env, INSURANCE_BREAKER_NAME: name, ...overrides };
  const app = newApp();
  const config = loadConfig(testEnv);
  const args: BreakerArgs = {
    name,
    settings: {
      failureThreshold: config.breaker.failureThreshold,
      openMs: config.breaker.openMs,
      halfOpenProbes: config.breaker.halfOpenProbes,
    },
  };
  return {
    name,
    env: testEnv,
    args,
    /** As an admin unless `init` carries its own Authorization header. */
    async fetch(path: string, init?: RequestInit): Promise<Response> {
      const ctx = createExecutionContext();
      const headers = new Headers(init?.headers);
      if (!headers.has("authorization")) headers.set("authorization", (await authHeader()).authorization!);
      const res = await app.fetch(new Request(ORIGIN + path, { ...init, headers }), testEnv, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    },
    /** The shared state and its counters, from the breaker's Durable Object. */
    objectStats(): Promise<BreakerObjectStats> {
      return testEnv.BREAKER.get(testEnv.BREAKER.idFromName(name)).stats(args);
    },
  };
}

/** The `breaker` entry of Server-Timing: `<name>=<state> scope=<shared|local>`. */
export function breakerTimingOf(res: Response): { state: string; scope: string } | undefined {
  const m = /breaker;desc="[^"=]+=([\w-]+) scope=(\w+)"/.exec(res.headers.get("server-timing") ?? "");
  return m ? { state: m[1]!, scope: m[2]! } : undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
