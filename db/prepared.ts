import { sql, type Placeholder } from "drizzle-orm";
import type { QueryBuilder } from "./client.ts";

/** What Drizzle's select, insert, update and delete builders offer: awaitable, or preparable once. */
export interface Preparable<R> extends PromiseLike<R> {
  prepare(name: string): PreparedQuery<R>;
}

/** Drizzle's prepared query: the SQL built once, executed with placeholder values. */
export interface PreparedQuery<R> {
  execute(values?: Record<string, unknown>): Promise<R>;
}

/** A statement's named values as its builder sees them: placeholders when prepared, else the values. */
export type Bound<V> = { readonly [K in keyof V]: V[K] | Placeholder };

/**
 * A statement whose SQL the HTTP path builds once per isolate instead of once per call (Drizzle's
 * prepared queries): building a one-row select by id took ~8 % of a one-query route's Worker CPU
 * (profiled). `build` receives the values by name: placeholders when the statement is prepared,
 * the values themselves on the WebSocket path, where a transaction's own db runs it as built.
 */
export interface PreparedStatement<V extends Record<string, unknown>, R> {
  readonly name: string;
  readonly keys: ReadonlyArray<keyof V & string>;
  readonly build: (q: QueryBuilder, values: Bound<V>) => Preparable<R>;
}

/**
 * For a hot statement of fixed shape, e.g. a lookup by id:
 * `prepared("patient_by_id", ["id"], (q, v: Bound<{ id: string }>) => q.select()...where(eq(patients.id, v.id)))`.
 */
export function prepared<V extends Record<string, unknown>, R>(
  name: string,
  keys: ReadonlyArray<keyof V & string>,
  build: (q: QueryBuilder, values: Bound<V>) => Preparable<R>,
): PreparedStatement<V, R> {
  return { name, keys, build };
}

/** Drizzle placeholders named like the statement's values, for preparing it. */
export function placeholders<V extends Record<string, unknown>>(keys: ReadonlyArray<keyof V & string>): Bound<V> {
  return Object.fromEntries(keys.map((key) => [key, sql.placeholder(key)])) as Bound<V>;
}
