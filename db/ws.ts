import { Pool, neonConfig, type PoolClient } from "@neondatabase/serverless";
import type { Logger } from "drizzle-orm/logger";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import type { Deadline } from "../core/deadline.ts";
import { AUDIT_SETTINGS, auditValues, type Audit } from "../core/audit.ts";
import { answerLost, isQueryCanceled, markInDoubt } from "./errors.ts";
import * as schema from "./schema/index.ts";
import type { DbStatsRecorder } from "./stats.ts";
import { log } from "../core/log.ts";

/** Drizzle's logger, told when the transaction is over (the statement tracer ends its last span then). */
export interface StatementLogger extends Logger {
  transactionEnded(failed: boolean): void;
}

/** The database an interactive transaction works on. */
export type Database = NeonDatabase<typeof schema>;

export interface WsOptions {
  url: string;
  poolMax: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  statementTimeoutMs: number;
  /** host:port of a WebSocket->TCP bridge in front of a plain Postgres (local development, tests). */
  wsProxy?: string | undefined;
  /** Shows up in pg_stat_activity, so a backend can be traced to the request that opened it. */
  applicationName: string;
  /** Who makes this request's changes, for the history trigger. */
  audit?: Audit | undefined;
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

/**
 * How often Postgres checks, while a statement runs or waits on a lock, that the client is still
 * there (PostgreSQL 14+). A request that gives up closes its connection; this is what makes the
 * backend notice and stop instead of running on.
 */
const CLIENT_CHECK_INTERVAL_MS = 50;

/**
 * The WebSocket path: a Neon Pool of at most `poolMax` connections, for interactive transactions.
 * Workers forbid an I/O object from outliving the request that made it ("Cannot perform I/O on
 * behalf of a different request"), so the Pool belongs to one request: created on first use,
 * ended by the owner once the response is on its way.
 */
export class WsPath {
  readonly #options: WsOptions;
  readonly #stats: DbStatsRecorder;
  readonly #logger: StatementLogger;
  #pool: Pool | undefined;

  constructor(options: WsOptions, stats: DbStatsRecorder, logger: StatementLogger) {
    this.#options = options;
    this.#stats = stats;
    this.#logger = logger;
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
  /**
   * The audit settings as SET LOCALs in the BEGIN message (a simple-protocol message takes no
   * parameters): auditValues() leaves no character but the quote itself to escape.
   */
  get #auditSql(): string {
    const values = auditValues(this.#options.audit);
    return AUDIT_SETTINGS.map((name, i) => `SET LOCAL ${name} = '${values[i]!.replaceAll("'", "''")}'`).join("; ");
  }

  async transaction<T>(deadline: Deadline, work: (tx: Database) => Promise<T>): Promise<T> {
    deadline.check("db");
    const client = await this.#acquire(this.#openPool(), deadline);
    let broken: unknown;
    let committing = false;
    try {
      const budget = Math.max(1, Math.floor(deadline.remaining()));
      this.#stats.wsRoundTrip();
      await deadline.race(
        client.query(
          `BEGIN; SET LOCAL statement_timeout = ${budget}; SET LOCAL client_connection_check_interval = ${CLIENT_CHECK_INTERVAL_MS}; ${this.#auditSql}`,
        ),
        "db",
      );
      const tx = drizzle({ client, schema, logger: this.#logger });
      const result = await deadline.race(work(tx), "db");
      this.#stats.wsRoundTrip();
      committing = true;
      await deadline.race(client.query("COMMIT"), "db");
      return result;
    } catch (err) {
      broken = err;
      const thrown = isQueryCanceled(err) ? deadline.error("db") : err;
      // Before COMMIT was sent, a failure rolls everything back; with it in flight, only the answer
      // is known lost.
      if (committing && answerLost(err, deadline.signal.aborted)) markInDoubt(thrown);
      throw thrown;
    } finally {
      this.#logger.transactionEnded(broken !== undefined);
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

  /**
   * pool.connect(), timed: an idle connection is free; otherwise it is either a new connection
   * (connect time) or, with `poolMax` already open, a place in the pool's queue (wait time). The
   * pool's counts are read before the call, when they still say which it will be.
   */
  async #acquire(pool: Pool, deadline: Deadline): Promise<PoolClient> {
    const reuse = pool.idleCount > 0;
    const queued = !reuse && pool.totalCount >= this.#options.poolMax;
    const started = performance.now();
    try {
      return await deadline.race(pool.connect(), "db", (late) => late.release(true));
    } finally {
      const ms = performance.now() - started;
      if (queued) this.#stats.waited(ms);
      else if (!reuse) this.#stats.connected(ms);
    }
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
      this.#stats.held();
      client.on("error", (err: Error) => {
        if (this.#pool !== pool) return;
        log.warn("database connection lost", { error: err.message });
      });
    });
    pool.on("remove", () => this.#stats.released());
    this.#pool = pool;
    return pool;
  }
}
