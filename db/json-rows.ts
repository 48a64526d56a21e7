import { getTableColumns, getTableName, type Table } from "drizzle-orm";

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
