import { index, jsonb, pgTable, primaryKey, smallint, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The outcome of each create request sent with an Idempotency-Key (IETF
 * draft-ietf-httpapi-idempotency-key-header). A row is inserted in the same transaction as the
 * write it guards, so it exists if and only if the write committed: a retry either finds it (and
 * gets the stored response back) or runs the request anew. A retry that arrives while the first
 * is still running waits on the row's uniqueness (Postgres makes the second INSERT wait for the
 * first transaction), bounded by IDEMPOTENCY_WAIT_MS.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    /** Who sent it (the token's "role:sub"): one caller's key never matches another's. */
    caller: text("caller").notNull(),
    /** The operation, e.g. "POST /appointments": a key is only meaningful for the route it was sent to. */
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    /** SHA-256 of the request's canonical JSON body: the same key with another body is refused. */
    requestHash: text("request_hash").notNull(),
    responseStatus: smallint("response_status").notNull(),
    /** Kept as text, not jsonb: a replay must be byte-for-byte the first answer (see storedAs). */
    responseBody: text("response_body").notNull(),
    responseHeaders: jsonb("response_headers").$type<Record<string, string>>().notNull(),
    /**
     * How response_body reads: "response", the answer as sent; "row", a StoredAnswer (JSON) that a
     * write done in one round trip stored (a SQL function cannot run the route's formatter), which
     * the route formats for a replay exactly as it formatted the first answer.
     */
    storedAs: text("stored_as").$type<"response" | "row">().notNull().default("response"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [
    primaryKey({ name: "idempotency_keys_pkey", columns: [t.caller, t.scope, t.key] }),
    index("idempotency_keys_expires_at_idx").on(t.expiresAt),
  ],
);

/** response_body when stored_as = 'row': `row` is to_jsonb() of the created row, `context` the route's extras. */
export interface StoredAnswer {
  row: Record<string, unknown>;
  context: Record<string, unknown>;
}

export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect;
