import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../functions/index.ts";
import { ORIGIN } from "../../helpers/api.ts";
import { authHeader } from "../../helpers/auth.ts";
import { bridgeStats, count } from "../../helpers/db.ts";
import { createPatient } from "../../helpers/factories.ts";
import { settle } from "../../helpers/wait.ts";

/** The WebSocket pool serves every statement (by default single statements go over HTTP). */
const wsEnv = { ...env, DB_QUERY_PATH: "ws" };

/** Runs one request through the Worker and waits for everything it handed to ctx.waitUntil. */
async function fetchAndSettle(path: string, requestId: string): Promise<Response> {
  const ctx = createExecutionContext();
  const headers = { ...(await authHeader()), "x-request-id": requestId };
  const res = await worker.fetch(new Request(ORIGIN + path, { headers }), wsEnv, ctx);
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res;
}

describe("the per-request pool", () => {
  it("is ended once the response is sent: every connection terminated, no backend left", async () => {
    const patient = await createPatient();
    const requestId = `pool-${crypto.randomUUID()}`;
    const res = await fetchAndSettle(`/patients/${patient.id}`, requestId);
    expect(res.status).toBe(200);

    const app = `clinic-edge:${requestId}`;
    const wire = await settle(
      () => bridgeStats(app),
      (s) => s.open === 0,
    );
    expect(wire).toMatchObject({ connections: 1, terminated: 1, open: 0 });
    const backends = () => count("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [app]);
    expect(await settle(backends, (n) => n === 0)).toBe(0);
  });

  it("is never opened by a request that needs no database", async () => {
    const requestId = `nodb-${crypto.randomUUID()}`;
    const res = await fetchAndSettle("/healthz", requestId);
    expect(res.status).toBe(200);
    expect((await bridgeStats(`clinic-edge:${requestId}`)).connections).toBe(0);
  });

  it("is ended after a failed request too", async () => {
    const requestId = `fail-${crypto.randomUUID()}`;
    const res = await fetchAndSettle(`/patients/${crypto.randomUUID()}`, requestId);
    expect(res.status).toBe(404);
    const wire = await settle(
      () => bridgeStats(`clinic-edge:${requestId}`),
      (s) => s.open === 0,
    );
    expect(wire).toMatchObject({ connections: 1, terminated: 1, open: 0 });
  });
});
