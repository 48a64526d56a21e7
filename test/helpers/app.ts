import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { newApp } from "../../functions/app.ts";
import { ORIGIN, type CallInit } from "./api.ts";
import { ADMIN, authHeader } from "./auth.ts";
import type { EnvOverrides } from "./insurance.ts";

/**
 * The Worker under test with some settings of its own (a fresh env object is a fresh parsed
 * configuration), run in this test's isolate, so a test can read what the isolate counts. Each
 * fetch waits for the request's background work, as the runtime would, and carries a bearer token
 * for `init.as` (an admin unless said otherwise) unless it has an Authorization header.
 */
export function workerWith(overrides: EnvOverrides & Partial<Pick<Env, "RATE_LIMITER">>) {
  const testEnv: Env = { ...env, ...overrides };
  const app = newApp();
  return {
    env: testEnv,
    async fetch(path: string, init: CallInit = {}): Promise<Response> {
      const { as = ADMIN, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (!headers.has("authorization")) for (const [k, v] of Object.entries(await authHeader(as))) headers.set(k, v);
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(ORIGIN + path, { ...rest, headers }), testEnv, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    },
    /**
     * One sample of /metrics as this isolate renders it. A series missing from the scrape throws: read
     * as 0 it would make any "stays at 0" check pass with the metric gone or renamed.
     */
    async metric(name: string, labels = ""): Promise<number> {
      const text = await (await this.fetch("/metrics")).text();
      const series = `${name}${labels ? `{${labels}}` : ""}`;
      const m = new RegExp(`^${series.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text);
      if (!m) throw new Error(`${series} is not in the /metrics scrape`);
      return Number(m[1]);
    },
    /**
     * A counter's value to compare a later metric() with: 0 while this isolate has not counted it yet
     * (a labelled series appears on its first increment). For "before" readings only, never asserted on.
     */
    async baseline(name: string, labels = ""): Promise<number> {
      return this.metric(name, labels).catch(() => 0);
    },
  };
}

/** A client IP unique to the caller, as Cloudflare would pass it. */
export function clientIp(): string {
  const b = crypto.getRandomValues(new Uint8Array(3));
  return `10.${b[0]}.${b[1]}.${b[2]}`;
}
