import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { QueryPath } from "../../../db/client.ts";
import { newApp } from "../../../functions/app.ts";
import { ORIGIN } from "../../helpers/api.ts";
import { policyWith } from "../../helpers/auth.ts";
import { bridgeStats } from "../../helpers/db.ts";
import { dbTimingOf } from "../../helpers/server-timing.ts";
import { sqlEndpointStats } from "../../helpers/sql-endpoint.ts";

const POOL_MAX = 5;
/** Outgoing connections a Worker request may hold at once. */
const WORKER_CONNECTION_LIMIT = 6;

/** The Worker, plus a handler that runs `n` statements of `seconds` each at the same time. */
function appWithFanOut() {
  const app = newApp({ policy: policyWith({ "GET /fan-out/{n}/{seconds}": { allow: "public" } }) });
  app.get("/fan-out/:n/:seconds", async (c) => {
    const n = Number(c.req.param("n"));
    const seconds = Number(c.req.param("seconds"));
    await Promise.all(
      Array.from({ length: n }, () =>
        c.var.requestDb.query(c.var.deadline, (q) => q.execute(sql`select pg_sleep(${seconds})`)),
      ),
    );
    return c.json({ ran: n });
  });
  return app;
}

async function fanOut(path: QueryPath, requestId: string, n: number, seconds: number, budgetMs: number) {
  const ctx = createExecutionContext();
  const started = Date.now();
  const res = await appWithFanOut().fetch(
    new Request(`${ORIGIN}/fan-out/${n}/${seconds}`, {
      headers: { "x-request-id": requestId, "x-request-timeout-ms": String(budgetMs) },
    }),
    // The fan-out repeats one statement on purpose, in parallel: not the N+1 loop the suite fails on.
    { ...env, DB_QUERY_PATH: path, DB_POOL_MAX: String(POOL_MAX), N_PLUS_ONE_ACTION: "warn" },
    ctx,
  );
  await res.arrayBuffer();
  const elapsed = Date.now() - started;
  await waitOnExecutionContext(ctx);
  return { res, elapsed, timing: dbTimingOf(res) };
}

describe("a request that asks for more connections than DB_POOL_MAX", () => {
  it("waits for one on the WebSocket path: never more than DB_POOL_MAX sockets, the waits in Server-Timing", async () => {
    const requestId = `fan-out-ws-${crypto.randomUUID()}`;
    const { res, timing } = await fanOut("ws", requestId, 8, 0.2, 5_000);
    expect(res.status).toBe(200);

    const wire = await bridgeStats(`clinic-edge:${requestId}`);
    expect(wire.connections).toBe(POOL_MAX);
    expect(wire.peakOpen).toBe(POOL_MAX);
    expect(wire.peakOpen).toBeLessThan(WORKER_CONNECTION_LIMIT);
    // Three statements queued, each for about one statement's time (200 ms).
    expect(timing).toMatchObject({ queries: 8, opened: POOL_MAX, peak: POOL_MAX, waits: 3 });
    expect(timing!.waitMs).toBeGreaterThanOrEqual(3 * 150);
  });

  it("waits for one on the HTTP path: never more than DB_POOL_MAX requests in flight, the waits in Server-Timing", async () => {
    const requestId = `fan-out-http-${crypto.randomUUID()}`;
    const { res, timing } = await fanOut("http", requestId, 8, 0.2, 5_000);
    expect(res.status).toBe(200);

    expect(await sqlEndpointStats(`clinic-edge:${requestId}`)).toMatchObject({ requests: 8, peakInFlight: POOL_MAX });
    expect((await bridgeStats(`clinic-edge:${requestId}`)).connections).toBe(0);
    expect(timing).toMatchObject({ queries: 8, roundTrips: 8, opened: 0, peak: POOL_MAX, waits: 3 });
    expect(timing!.waitMs).toBeGreaterThanOrEqual(3 * 150);
  });

  it.each<QueryPath>(["ws", "http"])(
    "stays within its deadline on the %s path: 504 at the budget, the waits counted",
    async (path) => {
      const requestId = `fan-out-late-${path}-${crypto.randomUUID()}`;
      // Five statements hold every connection for 400 ms; the other three get one with 200 ms left
      // for 400 ms of work.
      const { res, elapsed, timing } = await fanOut(path, requestId, 8, 0.4, 600);
      expect(res.status).toBe(504);
      expect(elapsed).toBeGreaterThanOrEqual(590);
      expect(elapsed).toBeLessThan(600 + 1_000);
      expect(timing).toMatchObject({ waits: 3, peak: POOL_MAX });
    },
  );
});
