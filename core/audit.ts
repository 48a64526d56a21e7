/**
 * Who made a database change, carried to Postgres as transaction-local settings
 * (clinic_edge.request_id, clinic_edge.client_request_id, clinic_edge.actor_role,
 * clinic_edge.actor_sub) in the same round trip as the change, where the history trigger reads them.
 */
export interface Audit {
  /** The server's id of the request (never the client's). */
  requestId: string;
  /** The X-Request-Id the client sent, kept apart: it proves nothing. */
  clientRequestId: string | undefined;
  /** The caller's role and subject; undefined for anonymous requests. */
  actor: { role: string; sub: string } | undefined;
}

/** The settings, in the order db/http.ts and db/ws.ts send them. */
export const AUDIT_SETTINGS = [
  "clinic_edge.request_id",
  "clinic_edge.client_request_id",
  "clinic_edge.actor_role",
  "clinic_edge.actor_sub",
] as const;

/** Longest value kept per setting: a subject from a token may be anything a provider chose. */
const MAX_CHARS = 200;

/**
 * The values of AUDIT_SETTINGS ("" for none), limited to characters that need no quoting in a SQL
 * literal beyond doubling quotes, so the WebSocket path may send them inline.
 */
export function auditValues(audit: Audit | undefined): string[] {
  const clean = (v: string | undefined) => (v ?? "").replace(/[^\w@.:|+=/-]/g, "?").slice(0, MAX_CHARS);
  return [audit?.requestId, audit?.clientRequestId, audit?.actor?.role, audit?.actor?.sub].map(clean);
}
