import type { Context, MiddlewareHandler } from "hono";
import { RequestDb, type DbStats } from "../../db/client.ts";
import { inBackground } from "../http/background.ts";
import type { AppEnv } from "../env.ts";

const ms = (value: number): string => value.toFixed(1);

/**
 * The request's database cost as Server-Timing metrics (browsers' dev tools show them):
 *   db       statements sent (read by tests and the N+1 guard)
 *   db-rt    round trips to the database, both paths (HTTP requests, exchanges on open WebSockets)
 *   db-conn  WebSocket connections opened, time spent opening them, most connections held at once
 *   db-wait  times a statement queued for one of the DB_POOL_MAX connections, time queued
 *   db-http  round trips over the HTTP path, time spent in them
 */
export function serverTiming(s: DbStats): string {
  return [
    `db;desc="queries=${s.queries}"`,
    `db-rt;desc="round-trips=${s.roundTrips}"`,
    `db-conn;dur=${ms(s.connectMs)};desc="opened=${s.connectionsOpened} peak=${s.peakConnections}"`,
    `db-wait;dur=${ms(s.waitMs)};desc="waits=${s.waits}"`,
    `db-http;dur=${ms(s.httpMs)};desc="round-trips=${s.httpRoundTrips}"`,
  ].join(", ");
}

/**
 * A database for this request's work; `purpose` tells its connections apart in pg_stat_activity
 * (application_name) when a background task needs its own.
 */
export function openRequestDb(c: Context<AppEnv>, purpose?: string): RequestDb {
  // Read when the database is first used: by then the request's variables are all set.
  return new RequestDb(() => {
    const { db, databaseUrl } = c.get("config");
    return {
      url: databaseUrl,
      ...db,
      applicationName: `clinic-edge:${c.get("clientRequestId") ?? c.get("requestId")}${purpose ? `:${purpose}` : ""}`,
      audit: { requestId: c.get("requestId"), clientRequestId: c.get("clientRequestId"), actor: c.get("principal") },
      span: c.get("span"),
    };
  });
}

/**
 * Gives the request its own database (connections opened on first use) and ends it after the
 * response in the background (ctx.waitUntil, bounded), so the client's sockets close without
 * delaying the answer and nothing is left for a later request to touch. Reports what the database
 * cost in Server-Timing.
 */
export function database(): MiddlewareHandler<AppEnv> {
  return async function database(c, next) {
    const requestDb = openRequestDb(c);
    c.set("requestDb", requestDb);
    try {
      await next();
    } finally {
      if (requestDb.used) c.header("Server-Timing", serverTiming(requestDb.stats), { append: true });
      if (requestDb.opened) inBackground(c, "end database pool", () => requestDb.end());
    }
  };
}
