import type { Client } from "@neondatabase/serverless";
import { inject } from "vitest";
import { withSql } from "./db.ts";
import type { EnvOverrides } from "./insurance.ts";

/** The Worker's configuration for the database behind the outage switch (see test/global-setup.ts). */
export function outageVars(queryPath: "http" | "ws"): EnvOverrides {
  const o = inject("outage");
  return {
    DATABASE_URL: o.databaseUrl,
    DB_WS_PROXY: o.wsProxy,
    DB_HTTP_ENDPOINT: o.sqlEndpoint,
    DB_QUERY_PATH: queryPath,
  };
}

/** Cuts the outage database's connections and refuses new ones (up: back to normal). */
export async function switchDatabase(state: "down" | "up"): Promise<void> {
  const res = await fetch(`${inject("outage").controlUrl}/${state}`, { method: "POST" });
  if (!res.ok) throw new Error(`outage switch: ${res.status}`);
}

/**
 * Holds a row lock from a second connection while `during` runs: a transaction that needs the row
 * waits on it, which is "the right moment" to do something to that transaction. Observing happens
 * on a third connection: pg_stat_activity is a snapshot per transaction, and the holder is in one.
 */
export async function whileLocked<T>(
  lockSql: string,
  params: unknown[],
  during: (observer: Client) => Promise<T>,
): Promise<T> {
  return withSql(async (holder) => {
    await holder.query("BEGIN");
    try {
      await holder.query(lockSql, params);
      return await withSql(during);
    } finally {
      await holder.query("ROLLBACK");
    }
  });
}

/** The pid of the backend serving `applicationName` once it waits on a lock (polls up to `timeoutMs`). */
export async function backendWaitingOnLock(
  observer: Client,
  applicationName: string,
  timeoutMs = 5_000,
): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const { rows } = await observer.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
      [applicationName],
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no backend of ${applicationName} waited on a lock within ${timeoutMs} ms`);
}
