/** Applies drizzle/ to a database: the same journal (drizzle.__drizzle_migrations) as `drizzle-kit migrate`. */
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));

export async function migrateDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Concurrent starts (two test runs, dev + tests) must not apply the same migration twice.
    await client.query("SELECT pg_advisory_lock(727274)");
    await client.query("SET client_min_messages = warning");
    await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await client.end();
  }
}
