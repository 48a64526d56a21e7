import { inArray, sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { Precondition } from "../../core/precondition.ts";

/** The WHERE term an If-Match adds to an UPDATE; undefined when it adds none. */
export function versionIs(column: PgColumn, precondition: Precondition | undefined): SQL | undefined {
  if (!precondition || precondition.any) return undefined;
  return precondition.versions.length > 0 ? inArray(column, precondition.versions) : sql`false`;
}

/** An update guarded by a precondition: done, or why not. */
export type Updated<Row> = { ok: true; row: Row } | { ok: false; reason: "not-found" | "stale" };

/**
 * Reads an update's outcome from the batch [UPDATE … WHERE id AND version RETURNING, SELECT … WHERE
 * id]: the second statement tells a missing row from a stale version without a second round trip.
 */
export function updatedOf<Row>(updated: Row | undefined, current: unknown): Updated<Row> {
  if (updated) return { ok: true, row: updated };
  return { ok: false, reason: current ? "stale" : "not-found" };
}
