/**
 * A stand-in for postgres_exporter, scraped by the lab's Prometheus: the few series the shipped
 * rules read, under postgres_exporter's names, for the lab's own database only (a shared
 * DATABASE_URL server's other databases are not the lab's to count):
 *   pg_stat_activity_count{datname,state}   backends by state
 *   pg_settings_max_connections             the server's max_connections
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";

export interface PgExporter {
  /** host:port to scrape at /metrics. */
  target: string;
  /**
   * The most backends the application held on the database since the last call (the lab's own
   * connections left out): polled every 100 ms, so a sample a second does not miss a storm's peaks.
   */
  backends(): Promise<number>;
  /** The application's backends on the database right now. */
  backendsNow(): Promise<number>;
  close(): Promise<void>;
}

export async function startPgExporter(databaseUrl: string): Promise<PgExporter> {
  const datname = new URL(databaseUrl).pathname.slice(1);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "clinic-edge-lab-exporter" });
  await client.connect();
  const read = async (): Promise<{ states: Array<{ state: string; n: number }>; app: number; max: number }> => {
    // Every backend of the database, as postgres_exporter counts them (its own and the lab's monitor
    // included: they take slots too); `app` leaves the lab's own out, for the report's chart.
    const activity = await client.query<{ state: string; n: string; app: string }>(
      "SELECT coalesce(state, 'unknown') AS state, count(*)::text AS n, count(*) FILTER (WHERE application_name NOT LIKE 'clinic-edge-lab%')::text AS app FROM pg_stat_activity WHERE datname = $1 GROUP BY 1",
      [datname],
    );
    const max = await client.query<{ setting: string }>(
      "SELECT setting FROM pg_settings WHERE name = 'max_connections'",
    );
    return {
      states: activity.rows.map((r) => ({ state: r.state, n: Number(r.n) })),
      app: activity.rows.reduce((sum, r) => sum + Number(r.app), 0),
      max: Number(max.rows[0]?.setting ?? 0),
    };
  };
  // One query at a time on the one client: scrapes and the lab's own reads queue here.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  let peak = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const app = await serialized(read).then(
        (r) => r.app,
        () => 0,
      );
      peak = Math.max(peak, app);
      await sleep(100);
    }
  })();
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    serialized(read).then(
      ({ states, max }) => {
        const lines = [
          "# HELP pg_stat_activity_count number of connections in this state",
          "# TYPE pg_stat_activity_count gauge",
          ...states.map((s) => `pg_stat_activity_count{datname="${datname}",state="${s.state}"} ${s.n}`),
          "# HELP pg_settings_max_connections Sets the maximum number of concurrent connections.",
          "# TYPE pg_settings_max_connections gauge",
          `pg_settings_max_connections ${max}`,
          "",
        ];
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(lines.join("\n"));
      },
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    target: `127.0.0.1:${port}`,
    backends: async () => {
      const now = (await serialized(read)).app;
      const most = Math.max(peak, now);
      peak = 0;
      return most;
    },
    backendsNow: async () => (await serialized(read)).app,
    close: async () => {
      polling = false;
      await poller;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await client.end();
    },
  };
}
