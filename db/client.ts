import { Pool, neonConfig, type PoolClient } from "@neondatabase/serverless";
import type { Logger } from "drizzle-orm/logger";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import { type Deadline } from "../functions/deadline.ts";
import * as schema from "./schema/index.ts";

export type Database = NeonDatabase<typeof schema>;

export interface DbOptions {
  url: string;
  poolMax: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  statementTimeoutMs: number;
  /** host:port of a WebSocket->TCP bridge in front of a plain Postgres (local development, tests). */
  wsProxy?: string | undefined;
  /** Shows up in pg_stat_activity, so a backend can be traced to the request that opened it. */
  applicationName: string;
}

/**
 * The driver (1.2) coalesces writes and flushes them on a zero-delay timer, but closes the socket
 * synchronously in end(): the buffered Terminate is then sent after close(), which workerd throws
 * on as an uncaught TypeError ("Can't call WebSocket send() after close()"). Deferring close() by
 * one timer tick lets the flush go first; a send on a socket that is already closing is dropped,
 * since the connection is being torn down anyway.
 */
class OrderedCloseWebSocket extends WebSocket {
  override send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CONNECTING) super.send(data);
  }

  override close(code?: number, reason?: string): void {
    setTimeout(() => super.close(code, reason), 0);
  }
}
neonConfig.webSocketConstructor = OrderedCloseWebSocket;

/**
 * The driver's WebSocket settings are module-wide statics. A local Postgres behind the bridge
 * needs plain ws:// and no pipelining (pipelined startup assumes Neon's cleartext-password flow);
 * Neon needs the defaults, so they are only changed when a bridge is configured.
 */
function useBridge(wsProxy: string): void {
  neonConfig.wsProxy = (host, port) => `${wsProxy}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

/** SQLSTATE 57014: statement_timeout fired or the statement was cancelled. Drizzle wraps it. */
function isQueryCanceled(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === "57014") return true;
  }
  return false;
}

class CountingLogger implements Logger {
  count = 0;
  logQuery(): void {
    this.count++;
  }
}

/**
 * How often Postgres checks, while a statement runs or waits on a lock, that the client is still
 * there (PostgreSQL 14+). A request that gives up closes its connection; this is what makes the
 * backend notice and stop instead of running on.
 */
const CLIENT_CHECK_INTERVAL_MS = 50;

/**
 * One request's database. Workers forbid an I/O object from outliving the request that made it
 * ("Cannot perform I/O on behalf of a different request"), so the Pool is per request: created on
 * first use, ended by the caller through ctx.waitUntil(end()) once the response is on its way.
 *
 * All work goes through run(deadline, ...): Drizzle takes no AbortSignal (drizzle-orm #1602), so the
 * deadline is enforced around it, on both sides of the wire.
 */
export class RequestDb {
  readonly #options: DbOptions;
  readonly #logger = new CountingLogger();
  #pool: Pool | undefined;

  constructor(options: DbOptions) {
    this.#options = options;
  }

  /** SQL statements this request has sent so far (the N+1 guard's input). */
  get queryCount(): number {
    return this.#logger.count;
  }

  get opened(): boolean {
    return this.#pool !== undefined;
  }

  /**
   * Runs `work` in one transaction bounded by the deadline:
   * - server side, the remaining budget becomes `SET LOCAL statement_timeout`, and
   *   `client_connection_check_interval` makes the backend stop if the connection is dropped;
   * - client side, the await is abandoned when the deadline fires (or the client disconnects) and
   *   the connection is destroyed, never returned to the pool.
   * BEGIN and both settings travel in one simple-protocol message: one round trip.
   */
  async run<T>(deadline: Deadline, work: (tx: Database) => Promise<T>): Promise<T> {
    deadline.check("db");
    const pool = this.#openPool();
    const client = await deadline.race(pool.connect(), "db", (late) => late.release(true));
    let broken: unknown;
    try {
      const budget = Math.max(1, Math.floor(deadline.remaining()));
      await deadline.race(
        client.query(
          `BEGIN; SET LOCAL statement_timeout = ${budget}; SET LOCAL client_connection_check_interval = ${CLIENT_CHECK_INTERVAL_MS}`,
        ),
        "db",
      );
      const tx = drizzle({ client, schema, logger: this.#logger });
      const result = await deadline.race(work(tx), "db");
      await deadline.race(client.query("COMMIT"), "db");
      return result;
    } catch (err) {
      broken = err;
      throw isQueryCanceled(err) ? deadline.error("db") : err;
    } finally {
      // A connection that failed or was abandoned mid-statement is destroyed: its transaction is
      // aborted with it, and Postgres sees the client leave.
      client.release(broken === undefined ? undefined : true);
    }
  }

  async end(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await pool.end();
  }

  #openPool(): Pool {
    if (this.#pool) return this.#pool;
    const o = this.#options;
    if (o.wsProxy) useBridge(o.wsProxy);
    const pool = new Pool({
      connectionString: o.url,
      max: o.poolMax,
      connectionTimeoutMillis: o.connectTimeoutMs,
      idleTimeoutMillis: o.idleTimeoutMs,
      statement_timeout: o.statementTimeoutMs,
      application_name: o.applicationName,
    });
    // Socket errors are emitted on the client (and on the pool while the client idles in it); an
    // EventEmitter 'error' nobody listens to is thrown as an uncaught exception. A query in flight
    // gets its own rejection, so these listeners only log. After end(), a lost socket is expected:
    // the WebSocket may be closed by the other side once Postgres has seen Terminate.
    pool.on("error", () => {});
    pool.on("connect", (client: PoolClient) => {
      client.on("error", (err: Error) => {
        if (this.#pool !== pool) return;
        console.error(JSON.stringify({ level: "warn", msg: "database connection lost", error: err.message }));
      });
    });
    this.#pool = pool;
    return pool;
  }
}
