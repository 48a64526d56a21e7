import { sql } from "drizzle-orm";
import { integer, timestamp, uuid } from "drizzle-orm/pg-core";

export const id = () =>
  uuid("id")
    .primaryKey()
    .default(sql`gen_random_uuid()`);

/** created_at/updated_at pair; updated_at is set by the queries that change a row. */
export const timestamps = () => ({
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

/**
 * The row's version, the ETag of its representation: 1 on insert, raised by one on every update by
 * a trigger (migration 0005), so no code path can change a row without changing its version.
 */
export const version = () => ({
  version: integer("version").notNull().default(1),
});
