import { getTableColumns, getTableName, type Table } from "drizzle-orm";
import { z } from "zod";

/**
 * A row that a SQL function handed back as to_jsonb(row), mapped the way Drizzle maps a selected
 * row (column names to property names, each value through its column's own decoder: timestamps to
 * Dates, and so on), so code downstream cannot tell it from a `select()`.
 */
export function rowFromJson<T extends Table>(table: T, json: unknown): T["$inferSelect"] {
  if (json === null || typeof json !== "object") throw new Error(`expected a ${getTableName(table)} row as JSON`);
  const fields = json as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const [property, column] of Object.entries(getTableColumns(table))) {
    const value = fields[column.name];
    row[property] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row;
}

/**
 * The given properties of a row as a SQL function takes them (jsonb_populate_record): by column
 * name, each value through its column's own encoder. Properties left out are left out.
 */
export function rowToJson<T extends Table>(table: T, values: Partial<T["$inferInsert"]>): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  const given = values as Record<string, unknown>;
  for (const [property, column] of Object.entries(getTableColumns(table))) {
    const value = given[property];
    if (value !== undefined) json[column.name] = value === null ? null : column.mapToDriverValue(value);
  }
  return json;
}

/** What a `SELECT fn(...) AS outcome` comes back as on either path. */
const OutcomeRows = z.object({ rows: z.array(z.object({ outcome: z.unknown() })) });

/** The single `outcome` of a SQL function's call, checked against what the function returns. */
export function outcomeOf<S extends z.ZodType>(result: unknown, shape: S): z.infer<S> {
  return shape.parse(OutcomeRows.parse(result).rows[0]?.outcome);
}
