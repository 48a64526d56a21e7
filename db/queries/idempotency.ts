import { and, eq, gt, sql } from "drizzle-orm";
import { z } from "zod";
import type { Deadline } from "../../core/deadline.ts";
import type { Database, RequestDb } from "../client.ts";
import { idempotencyKeys, type IdempotencyKeyRow } from "../schema/index.ts";

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

/**
 * Claims the key inside the caller's transaction, before its write. The row is only visible to
 * others once the transaction commits (with the outcome filled in by storeOutcome), so:
 * - no row: the INSERT succeeds; this request runs the write;
 * - a row whose transaction is still open: Postgres makes this INSERT wait for it (a lock wait,
 *   bounded by `waitMs` through lock_timeout: 55P03 when it runs out), then sees the outcome;
 * - a committed, unexpired row: nothing is inserted and the stored row is returned instead;
 * - an expired row: taken over, as if there were none.
 */
export async function claimKey(
  tx: Database,
  id: KeyId,
  requestHash: string,
  ttlSeconds: number,
  waitMs: number,
): Promise<IdempotencyKeyRow | undefined> {
  // lock_timeout 0 means no limit: keep at least 1 ms so "do not wait" stays bounded.
  await tx.execute(sql`SELECT set_config('lock_timeout', ${String(Math.max(1, waitMs))}, true)`);
  const expiresAt = sql`now() + make_interval(secs => ${ttlSeconds})`;
  const claimed = await tx
    .insert(idempotencyKeys)
    .values({ ...id, requestHash, responseStatus: 0, responseBody: "", responseHeaders: {}, expiresAt })
    .onConflictDoUpdate({
      target: [idempotencyKeys.caller, idempotencyKeys.scope, idempotencyKeys.key],
      set: {
        requestHash,
        responseStatus: 0,
        responseBody: "",
        responseHeaders: {},
        storedAs: "response",
        createdAt: sql`now()`,
        expiresAt,
      },
      setWhere: sql`${idempotencyKeys.expiresAt} <= now()`,
    })
    .returning({ key: idempotencyKeys.key });
  await tx.execute(sql`SELECT set_config('lock_timeout', '0', true)`);
  if (claimed.length > 0) return undefined;
  const [existing] = await tx.select().from(idempotencyKeys).where(matches(id));
  return existing;
}

/** Fills in the claimed key's outcome, in the transaction that made the write. */
export async function storeOutcome(tx: Database, id: KeyId, response: StoredResponse): Promise<void> {
  await tx
    .update(idempotencyKeys)
    .set({ responseStatus: response.status, responseBody: response.body, responseHeaders: response.headers })
    .where(matches(id));
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
