import { and, eq, getTableName, gt, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import { z } from "zod";
import type { Deadline } from "../../core/deadline.ts";
import type { Queries, RequestDb } from "../client.ts";
import { outcomeOf, rowFromJson, rowToJson } from "../json-rows.ts";
import { idempotencyKeys, type IdempotencyKeyRow, type StoredAnswer } from "../schema/index.ts";

/** Which stored outcome a request is about: its caller, operation and key. */
export interface KeyId {
  caller: string;
  scope: string;
  key: string;
}

/** A key to claim in the write's own transaction, by a SQL function (claim_idempotency_key, drizzle/0007). */
export interface KeyClaim extends KeyId {
  requestHash: string;
  ttlSeconds: number;
  /** How long to wait on a concurrent first request with the same key (lock_timeout). */
  waitMs: number;
}

export interface StoredResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

const matches = (id: KeyId) =>
  and(eq(idempotencyKeys.caller, id.caller), eq(idempotencyKeys.scope, id.scope), eq(idempotencyKeys.key, id.key));

/** The key's stored outcome if one committed and has not expired. */
export async function findStoredOutcome(
  db: RequestDb,
  deadline: Deadline,
  id: KeyId,
): Promise<IdempotencyKeyRow | undefined> {
  const [row] = await db.query(deadline, (q) =>
    q
      .select()
      .from(idempotencyKeys)
      .where(and(matches(id), gt(idempotencyKeys.expiresAt, sql`now()`))),
  );
  return row;
}

export type KeyedCreate =
  | { kind: "created"; answer: StoredAnswer }
  /** The key's outcome, stored by an earlier request (waited for when it was still running). */
  | { kind: "replay"; stored: IdempotencyKeyRow };

const JsonRow = z.record(z.string(), z.unknown());
/** What a SQL function returns for a key that already has an outcome: {"replay": <key row>}. */
export const Replay = z.object({ replay: JsonRow });
/** A StoredAnswer as a SQL function returns it. */
export const StoredAnswerShape = z.object({ row: JsonRow, context: JsonRow });

const KeyedAnswer = z.union([Replay, z.object({ created: StoredAnswerShape })]);

/**
 * Inserts `values` into `table` under the key, in one statement (create_idempotently, drizzle/0007):
 * the key's claim (waiting on a concurrent first request with it, up to claim.waitMs: 55P03), the
 * insert and the stored answer in one transaction, one round trip on the HTTP path. `context` is
 * stored with the row for a replay to format the same answer.
 */
export async function createIdempotently<T extends PgTable>(
  db: Queries,
  deadline: Deadline,
  table: T,
  values: T["$inferInsert"],
  context: Record<string, unknown>,
  claim: KeyClaim,
): Promise<KeyedCreate> {
  const result = await db.query(deadline, (q) =>
    q.execute(sql`SELECT create_idempotently(
      ${getTableName(table)}::regclass, ${JSON.stringify(rowToJson(table, values))}::jsonb,
      ${JSON.stringify(context)}::jsonb, ${claim.caller}, ${claim.scope}, ${claim.key}, ${claim.requestHash},
      ${claim.ttlSeconds}::integer, ${claim.waitMs}::integer
    ) AS outcome`),
  );
  const outcome = outcomeOf(result, KeyedAnswer);
  if ("replay" in outcome) return { kind: "replay", stored: rowFromJson(idempotencyKeys, outcome.replay) };
  return { kind: "created", answer: outcome.created };
}

const DeletedRows = z.object({ rows: z.array(z.unknown()) });

/**
 * Deletes up to `limit` expired keys; returns how many. SKIP LOCKED: two isolates sweeping at
 * once split the work instead of waiting on each other.
 */
export async function deleteExpiredKeys(db: RequestDb, deadline: Deadline, limit: number): Promise<number> {
  const result = await db.query(deadline, (q) =>
    q.execute(sql`
      DELETE FROM idempotency_keys
      WHERE (caller, scope, key) IN (
        SELECT caller, scope, key FROM idempotency_keys
        WHERE expires_at <= now()
        ORDER BY expires_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING 1
    `),
  );
  return DeletedRows.parse(result).rows.length;
}
