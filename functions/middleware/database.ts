import type { MiddlewareHandler } from "hono";
import { RequestDb } from "../../db/client.ts";
import { inBackground } from "../background.ts";
import type { AppEnv } from "../env.ts";

/**
 * Gives the request its own database (Pool created on first query) and ends it after the response
 * in the background (ctx.waitUntil, bounded), so the client's sockets close without delaying the answer and nothing is
 * left for a later request to touch. Also reports the statement count in Server-Timing.
 */
export function database(): MiddlewareHandler<AppEnv> {
  return async function database(c, next) {
    const { db } = c.var.config;
    const requestDb = new RequestDb({
      url: c.var.config.databaseUrl,
      ...db,
      applicationName: `clinic-edge:${c.var.requestId}`,
    });
    c.set("requestDb", requestDb);
    try {
      await next();
    } finally {
      if (requestDb.opened) {
        c.header("Server-Timing", `db;desc="queries=${requestDb.queryCount}"`, { append: true });
        inBackground(c, "end database pool", () => requestDb.end());
      }
    }
  };
}
