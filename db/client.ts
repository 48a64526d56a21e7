import { Pool, neonConfig, type PoolClient } from "@neondatabase/serverless";
import type { Logger } from "drizzle-orm/logger";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
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

class CountingLogger implements Logger {
  count = 0;
  logQuery(): void {
    this.count++;
  }
}

/**
 * One request's database. Workers forbid an I/O object from outliving the request that made it
 * ("Cannot perform I/O on behalf of a different request"), so the Pool is per request: created on
 * first use, ended by the caller through ctx.waitUntil(end()) once the response is on its way.
 */
export class RequestDb {
  readonly #options: DbOptions;
  readonly #logger = new CountingLogger();
  #pool: Pool | undefined;
  #db: Database | undefined;

  constructor(options: DbOptions) {
    this.#options = options;
  }

  get db(): Database {
    this.#db ??= drizzle({ client: this.#openPool(), schema, logger: this.#logger });
    return this.#db;
  }

  /** SQL statements this request has sent so far (the N+1 guard's input). */
  get queryCount(): number {
    return this.#logger.count;
  }

  get opened(): boolean {
    return this.#pool !== undefined;
  }

  async end(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#db = undefined;
    if (pool) await pool.end();
  }

  #openPool(): Pool {
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
