/**
 * The part of Neon's `/sql` wire protocol the driver uses (see sql-endpoint.ts): the request payload,
 * the answer's JSON shape, and how Postgres errors and refusals are reported.
 */
import type { IncomingMessage } from "node:http";
import type pg from "pg";

export interface QueryData {
  query: string;
  params?: unknown[];
  arrayMode?: boolean;
}

export type Payload = QueryData | { queries: QueryData[] };

/** A client error, answered as Neon does: a status and {message}. */
export class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export const MAX_BODY_BYTES = 10 * 1024 * 1024;
export const ISOLATION: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};
export const ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;
/** Values stay Postgres text: the driver parses them itself, by dataTypeID. */
export const RAW_TEXT = { getTypeParser: () => (value: string) => value };

export function sameDatabase(requested: URL, served: URL): boolean {
  const port = (u: URL) => u.port || "5432";
  return (
    (requested.protocol === "postgres:" || requested.protocol === "postgresql:") &&
    requested.hostname === served.hostname &&
    port(requested) === port(served) &&
    requested.pathname === served.pathname &&
    decodeURIComponent(requested.username) === decodeURIComponent(served.username) &&
    decodeURIComponent(requested.password) === decodeURIComponent(served.password)
  );
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Refusal(413, "request body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function parsePayload(body: string): Payload {
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    throw new Refusal(400, "request body is not JSON");
  }
  const isQuery = (q: unknown): q is QueryData =>
    typeof q === "object" &&
    q !== null &&
    typeof (q as QueryData).query === "string" &&
    ((q as QueryData).params === undefined || Array.isArray((q as QueryData).params));
  if (isQuery(payload)) return payload;
  const queries = (payload as { queries?: unknown }).queries;
  if (Array.isArray(queries) && queries.every(isQuery)) return { queries };
  throw new Refusal(400, "expected {query, params} or {queries: [...]}");
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function toJson(result: pg.QueryResult, arrayMode: boolean): unknown {
  return {
    command: result.command,
    fields: result.fields.map((f) => ({
      name: f.name,
      dataTypeID: f.dataTypeID,
      tableID: f.tableID,
      columnID: f.columnID,
      dataTypeSize: f.dataTypeSize,
      dataTypeModifier: f.dataTypeModifier,
      format: "text",
    })),
    rowAsArray: arrayMode,
    rowCount: result.rowCount,
    rows: result.rows as unknown[],
  };
}

export function errorJson(err: pg.DatabaseError): Record<string, unknown> {
  const body: Record<string, unknown> = { message: err.message };
  for (const field of ERROR_FIELDS) body[field] = err[field] ?? null;
  return body;
}
