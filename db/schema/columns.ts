import { sql } from "drizzle-orm";
import { integer, timestamp, uuid } from "drizzle-orm/pg-core";

/** Every row id is gen_random_uuid()'s: a version 4 UUID of the RFC 9562 variant. */
const V4_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * Whether `id` could name a row: any other UUID (nil, v1, v7, random bits) cannot, so a read for it
 * can be answered "not found" with no database or Durable Object work. Holds while ids come only
 * from the column default (the seed data keeps the v4 layout too).
 */
export const couldBeRowId = (id: string): boolean => V4_UUID.test(id);

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
