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
    /** One sample of /metrics as this isolate renders it (0 when the series does not exist yet). */
    async metric(name: string, labels = ""): Promise<number> {
      const text = await (await this.fetch("/metrics")).text();
      const escaped = `${name}${labels ? `{${labels}}` : ""}`.replace(/[{}"]/g, "\\$&");
      const m = new RegExp(`^${escaped} (\\S+)$`, "m").exec(text);
      return m ? Number(m[1]) : 0;
    },
  };
}

/** A client IP unique to the caller, as Cloudflare would pass it. */
export function clientIp(): string {
  const b = crypto.getRandomValues(new Uint8Array(3));
  return `10.${b[0]}.${b[1]}.${b[2]}`;
}
