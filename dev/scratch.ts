/**
 * Scratch databases on a shared Postgres server (DATABASE_URL): one per run, named
 * `<prefix><pid>_<ms>` so a later run can tell a dead run's leftovers from a live run's database.
 */
import pg from "pg";
import { ensureDatabase } from "./postgres.ts";

export interface ScratchDatabase {
  /** The server URL with the scratch database as its path. */
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, application_name: "clinic-edge-scratch" });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
}

/** Creates this run's database, after dropping those of runs with the same prefix that died before their cleanup. */
export async function createScratchDatabase(serverUrl: string, prefix: string): Promise<ScratchDatabase> {
  await withAdmin(serverUrl, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
      [prefix],
    );
    for (const { datname } of rows) {
      if (!isAlive(Number(datname.slice(prefix.length).split("_")[0]))) await dropDatabase(client, datname);
    }
  });
  const name = `${prefix}${process.pid}_${Date.now()}`;
  await ensureDatabase(serverUrl, name);
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => withAdmin(serverUrl, (client) => dropDatabase(client, name)) };
}
