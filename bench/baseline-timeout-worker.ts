/**
 * The counter-example bench/deadlines.ts measures clinic-edge against: a timeout that stops the wait
 * and not the work, as a context.WithTimeout that never reaches the driver would. The same route,
 * PATCH /doctors/:id doing the same UPDATE through Drizzle on a per-request Neon Pool over the same
 * WebSocket bridge, the pool ended in ctx.waitUntil, and Hono's own timeout() middleware around it.
 * timeout() only races a timer: the client gets its 504 on time, but nothing tells Postgres, so the
 * UPDATE keeps waiting on its lock and commits once the lock is released. No statement_timeout from
 * the budget, no abandon/destroy of the connection, no client_connection_check_interval: that is
 * the point of this Worker.
 *
 * Bundled by bench/deadlines.ts with esbuild (bundleWorker() in bench/lib/bundle.ts) and run on a
 * workerd of its own through Miniflare. Bindings it reads: DATABASE_URL, DB_WS_PROXY (host:port of
 * dev/bridge.ts), TIMEOUT_MS (the budget given to timeout()), and clinic-edge's wrangler.toml
 * [vars] for the pool settings (DB_POOL_MAX, DB_CONNECT_TIMEOUT_MS, DB_IDLE_TIMEOUT_MS,
 * DB_STATEMENT_TIMEOUT_MS: the same static ceiling clinic-edge gives every connection, which is
 * not a deadline).
 */
import { Pool, neonConfig, type PoolClient } from "@neondatabase/serverless";
import { eq, sql } from "drizzle-orm";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import { Hono, type MiddlewareHandler } from "hono";
import { requestId } from "hono/request-id";
import { timeout } from "hono/timeout";
import { doctors } from "../db/schema/doctors.ts";

interface Bindings {
  DATABASE_URL: string;
  DB_WS_PROXY: string;
  TIMEOUT_MS: string;
  DB_POOL_MAX?: string;
  DB_CONNECT_TIMEOUT_MS?: string;
  DB_IDLE_TIMEOUT_MS?: string;
  DB_STATEMENT_TIMEOUT_MS?: string;
}

interface BaselineEnv {
  Bindings: Bindings;
  Variables: { db: NeonDatabase };
}

/** Counted per request in pg_stat_activity and the bridge, like clinic-edge's `clinic-edge:<id>`. */
const APPLICATION_PREFIX = "hono-timeout";

/**
 * Not deadline work: the same driver workarounds db/ws.ts applies, so both Workers talk to the
 * bridge identically. The driver (1.2) flushes its buffered Terminate on a zero-delay timer but
 * closes the socket synchronously, which workerd throws on; deferring close() by one tick fixes it.
 */
class OrderedCloseWebSocket extends WebSocket {
  override send(...args: Parameters<WebSocket["send"]>): void {
    if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CONNECTING) super.send(...args);
  }

  override close(code?: number, reason?: string): void {
    setTimeout(() => super.close(code, reason), 0);
  }
}

function useBridge(wsProxy: string): void {
  neonConfig.webSocketConstructor = OrderedCloseWebSocket;
  neonConfig.wsProxy = (host, port) => `${wsProxy}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

const int = (value: string | undefined, fallback: number): number => {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};

/** One Pool per request (an I/O object may not outlive its request), ended in ctx.waitUntil. */
function database(): MiddlewareHandler<BaselineEnv> {
  return async function database(c, next) {
    useBridge(c.env.DB_WS_PROXY);
    const pool = new Pool({
      connectionString: c.env.DATABASE_URL,
      max: int(c.env.DB_POOL_MAX, 5),
      connectionTimeoutMillis: int(c.env.DB_CONNECT_TIMEOUT_MS, 5_000),
      idleTimeoutMillis: int(c.env.DB_IDLE_TIMEOUT_MS, 1_000),
      statement_timeout: int(c.env.DB_STATEMENT_TIMEOUT_MS, 10_000),
      application_name: `${APPLICATION_PREFIX}:${c.var.requestId}`,
    });
    // Unheard 'error' events would be uncaught exceptions; a query in flight gets its own rejection.
    pool.on("error", () => {});
    pool.on("connect", (client: PoolClient) => client.on("error", () => {}));
    c.set("db", drizzle({ client: pool }));
    try {
      await next();
    } finally {
      // Registered as the 504 goes out: pool.end() waits for the UPDATE still queued on the lock.
      c.executionCtx.waitUntil(pool.end().catch(() => {}));
    }
  };
}

/** timeout() takes a fixed duration: built once per budget the bench configures. */
function budgetTimeout(): MiddlewareHandler<BaselineEnv> {
  const byBudget = new Map<number, MiddlewareHandler>();
  return async function budgetTimeout(c, next) {
    const ms = int(c.env.TIMEOUT_MS, 10_000);
    let middleware = byBudget.get(ms);
    if (!middleware) {
      middleware = timeout(ms);
      byBudget.set(ms, middleware);
    }
    return middleware(c, next);
  };
}

interface DoctorChanges {
  name?: string;
  specialty?: string;
  active?: boolean;
}

function changesFrom(body: unknown): DoctorChanges | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const { name, specialty, active } = body as Record<string, unknown>;
  const changes: DoctorChanges = {};
  if (typeof name === "string") changes.name = name;
  if (typeof specialty === "string") changes.specialty = specialty;
  if (typeof active === "boolean") changes.active = active;
  return Object.keys(changes).length > 0 ? changes : undefined;
}

const app = new Hono<BaselineEnv>();
app.use("*", requestId({ limitLength: 64 }));
app.use("*", database());
app.use("*", budgetTimeout());

app.patch("/doctors/:id", async (c) => {
  const changes = changesFrom(await c.req.json<unknown>().catch(() => undefined));
  if (!changes) return c.json({ error: "expected name, specialty or active" }, 400);
  const [row] = await c.var.db
    .update(doctors)
    .set({ ...changes, updatedAt: sql`now()` })
    .where(eq(doctors.id, c.req.param("id")))
    .returning();
  if (!row) return c.json({ error: "no such doctor" }, 404);
  return c.json(row, 200);
});

export default app;
