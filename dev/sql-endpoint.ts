/**
 * A local stand-in for Neon's HTTP `/sql` endpoint, so the Neon driver's HTTP path (`neon()`,
 * drizzle-orm/neon-http) runs against the embedded or DATABASE_URL Postgres. Neon publishes no
 * package for it; this reproduces the part of its proxy's protocol the driver uses (checked against
 * @neondatabase/serverless 1.2 and Neon's proxy, proxy/src/serverless/sql_over_http.rs):
 *
 *   POST /sql, body {query, params} or {queries: [{query, params}, ...]}
 *   Neon-Connection-String: the database to use (only the configured one is accepted here)
 *   Neon-Raw-Text-Output: true (values as Postgres text; the driver parses them by dataTypeID)
 *   Neon-Array-Mode: true|false (rows as arrays or objects; per query `arrayMode` overrides)
 *   Neon-Batch-Isolation-Level / -Read-Only / -Deferrable: a batch's transaction
 *   200 {command, fields[{name, dataTypeID, tableID, columnID, dataTypeSize, dataTypeModifier,
 *   format}], rowAsArray, rowCount, rows} or {results: [...]}; 400 with the Postgres error's fields.
 *
 * Statements run on a warm `pg` pool, as Neon's proxy keeps its own: no connection setup per
 * request. A batch runs in one transaction, rolled back when any statement fails. Like Neon, a
 * statement whose HTTP client goes away is cancelled; `cancelOnDisconnect: false` turns that off,
 * so tests can prove the Worker's own server-side limit stops a statement without it.
 *
 * Locally, a batch also sets application_name (from the connection string) for its transaction,
 * so pg_stat_activity points at the Worker request; Neon's pooled connections do not.
 *
 * Counters per application_name (requests, statements, cancellations, peak in flight) are served
 * as JSON on GET /stats?application_name=..., for tests to see what crossed the wire.
 *
 * With `rttMs` (DEV_DB_RTT_MS) it models a database that far away: a request waits half the round
 * trip before it runs and its answer half on the way back (dev/latency.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fromBrowser } from "./browser-guard.ts";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { StatsByApp } from "./app-stats.ts";
import { delay } from "./latency.ts";
import {
  ISOLATION,
  RAW_TEXT,
  Refusal,
  errorJson,
  header,
  parsePayload,
  readBody,
  sameDatabase,
  toJson,
  type Payload,
  type QueryData,
} from "./sql-protocol.ts";

export interface SqlEndpointOptions {
  /** The one database served; a request naming any other (host, port, database, user, password) gets 403. */
  databaseUrl: string;
  host?: string;
  port?: number;
  /** Warm connections kept to Postgres. */
  maxConnections?: number;
  /** How long a warm connection may sit idle before it is closed (default 60 s). */
  idleTimeoutMs?: number;
  /** Cancel a statement whose client disconnected, as Neon does (default true). */
  cancelOnDisconnect?: boolean;
  /** How many application names to keep counters for (oldest dropped first). */
  maxTrackedApps?: number;
  /** Simulated round-trip time to the database, in ms (default 0). */
  rttMs?: number;
}

export interface SqlAppStats {
  /** HTTP round trips. */
  requests: number;
  /** Of which batches. */
  batches: number;
  statements: number;
  /** Requests answered with an error. */
  errors: number;
  inFlight: number;
  peakInFlight: number;
  /** Statements cancelled because their client went away. */
  cancelled: number;
  /** Statements Postgres stopped at their statement_timeout. */
  statementTimeouts: number;
}

const EMPTY: SqlAppStats = {
  requests: 0,
  batches: 0,
  statements: 0,
  errors: 0,
  inFlight: 0,
  peakInFlight: 0,
  cancelled: 0,
  statementTimeouts: 0,
};

export interface SqlEndpoint {
  /** The value for DB_HTTP_ENDPOINT. */
  url: string;
  port: number;
  stats(applicationName: string): SqlAppStats | undefined;
  close(): Promise<void>;
}

export async function startSqlEndpoint(options: SqlEndpointOptions): Promise<SqlEndpoint> {
  const served = new URL(options.databaseUrl);
  const cancelOnDisconnect = options.cancelOnDisconnect ?? true;
  const halfRtt = (options.rttMs ?? 0) / 2;
  const apps = new StatsByApp<SqlAppStats>(EMPTY, options.maxTrackedApps);
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.maxConnections ?? 20,
    idleTimeoutMillis: options.idleTimeoutMs ?? 60_000,
    application_name: "clinic-edge-sql-endpoint",
  });
  // An idle connection Postgres drops is the pool's to replace; nothing is waiting on it.
  pool.on("error", () => {});
  // A checked-out connection whose backend is killed (pg_terminate_backend, a restart) emits
  // 'error' on the client as well as failing its query; unlistened, that would crash the process.
  pool.on("connect", (client) => client.on("error", () => {}));
  const backendPids = new WeakMap<pg.PoolClient, number>();

  async function backendPid(client: pg.PoolClient): Promise<number> {
    let pid = backendPids.get(client);
    if (pid === undefined) {
      const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      pid = rows[0]!.pid;
      backendPids.set(client, pid);
    }
    return pid;
  }

  /** From a connection of its own: the pool's may all be busy. */
  async function cancelBackend(pid: number): Promise<void> {
    const admin = new pg.Client({
      connectionString: options.databaseUrl,
      application_name: "clinic-edge-sql-endpoint-cancel",
    });
    await admin.connect();
    try {
      await admin.query("SELECT pg_cancel_backend($1)", [pid]);
    } finally {
      await admin.end();
    }
  }

  function run(client: pg.PoolClient, q: QueryData, defaultArrayMode: boolean, app: SqlAppStats): Promise<unknown> {
    const arrayMode = q.arrayMode ?? defaultArrayMode;
    app.statements++;
    return client
      .query({ text: q.query, values: q.params ?? [], types: RAW_TEXT, ...(arrayMode ? { rowMode: "array" } : {}) })
      .then((result) => toJson(result, arrayMode));
  }

  async function execute(
    req: IncomingMessage,
    res: ServerResponse,
    payload: Payload,
    applicationName: string,
    app: SqlAppStats,
  ): Promise<unknown> {
    const arrayMode = header(req, "Neon-Array-Mode") === "true";
    const isolation = header(req, "Neon-Batch-Isolation-Level");
    if (isolation !== undefined && !ISOLATION[isolation]) throw new Refusal(400, "invalid isolation level");
    const client = await pool.connect();
    let abandoned = false;
    let cancelling: Promise<void> | undefined;
    const pid = await backendPid(client);
    const onClose = (): void => {
      if (res.writableFinished) return;
      abandoned = true;
      if (cancelOnDisconnect && !cancelling) {
        app.cancelled++;
        // If the cancel cannot be sent, the statement runs on to its own statement_timeout.
        cancelling = cancelBackend(pid).catch(() => {});
      }
    };
    res.on("close", onClose);
    try {
      if (!("queries" in payload)) return await run(client, payload, arrayMode, app);
      app.batches++;
      const begin = [
        "BEGIN",
        isolation ? `ISOLATION LEVEL ${ISOLATION[isolation]}` : "",
        header(req, "Neon-Batch-Read-Only") === "true" ? "READ ONLY" : "",
        header(req, "Neon-Batch-Deferrable") === "true" ? "DEFERRABLE" : "",
      ]
        .filter(Boolean)
        .join(" ");
      await client.query(`${begin}; SET LOCAL application_name = ${client.escapeLiteral(applicationName)}`);
      try {
        const results: unknown[] = [];
        for (const q of payload.queries) {
          results.push(await run(client, q, arrayMode, app));
          if (abandoned && cancelOnDisconnect) throw new Refusal(400, "Query cancelled, connection was terminated");
        }
        await client.query("COMMIT");
        return { results };
      } catch (err) {
        if (!abandoned) await client.query("ROLLBACK");
        throw err;
      }
    } finally {
      res.off("close", onClose);
      await cancelling;
      // A connection whose client left mid-statement may still have a cancel in flight for it.
      client.release(abandoned || undefined);
    }
  }

  async function handleSql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawConnection = header(req, "Neon-Connection-String");
    let requested: URL;
    try {
      requested = new URL(rawConnection ?? "");
    } catch {
      throw new Refusal(400, "missing or invalid Neon-Connection-String header");
    }
    if (!sameDatabase(requested, served)) throw new Refusal(403, "this endpoint serves only its configured database");
    if (header(req, "Neon-Raw-Text-Output") !== "true") {
      throw new Refusal(400, "this stand-in supports only Neon-Raw-Text-Output: true (what the driver sends)");
    }
    const applicationName = requested.searchParams.get("application_name") ?? "";
    const payload = parsePayload(await readBody(req));
    const app = apps.for(applicationName);
    app.requests++;
    app.inFlight++;
    app.peakInFlight = Math.max(app.peakInFlight, app.inFlight);
    try {
      await delay(halfRtt);
      const body = await execute(req, res, payload, applicationName, app);
      await delay(halfRtt);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    } catch (err) {
      app.errors++;
      if (err instanceof pg.DatabaseError) {
        if (err.code === "57014" && err.message.includes("statement timeout")) app.statementTimeouts++;
        await delay(halfRtt);
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify(errorJson(err)));
        return;
      }
      throw err;
    } finally {
      app.inFlight--;
    }
  }

  const http: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://endpoint");
    if (req.method === "GET" && url.pathname === "/stats") {
      const name = url.searchParams.get("application_name") ?? "";
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(apps.snapshot(name)));
      return;
    }
    if (fromBrowser(req)) {
      res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ message: "not from a browser" }));
      return;
    }
    if (req.method !== "POST" || url.pathname !== "/sql") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "POST /sql" }));
      return;
    }
    handleSql(req, res).catch((err: unknown) => {
      const status = err instanceof Refusal ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ message }));
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const host = options.host ?? "127.0.0.1";

  return {
    url: `http://${host}:${port}/sql`,
    port,
    stats: (name) => apps.get(name),
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await pool.end();
    },
  };
}
