import type { Context, TypedResponse } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { PgTable } from "drizzle-orm/pg-core";
import { isLockTimeout } from "../../db/errors.ts";
import {
  createIdempotently,
  deleteExpiredKeys,
  findStoredOutcome,
  type KeyClaim,
  type KeyedCreate,
  type StoredResponse,
} from "../../db/queries/idempotency.ts";
import type { IdempotencyKeyRow, StoredAnswer } from "../../db/schema/index.ts";
import { inBackground } from "./background.ts";
import type { AppEnv } from "../env.ts";
import { ConflictError, UnprocessableError, ValidationError } from "./errors.ts";
import { openRequestDb } from "../middleware/database.ts";

/**
 * Idempotency-Key for creating POSTs (IETF draft-ietf-httpapi-idempotency-key-header): a client
 * that retries after a timeout or a dropped connection gets the first attempt's answer back
 * instead of a second resource.
 *
 * - The outcome is stored in the transaction of the write itself (db/queries/idempotency.ts), so
 *   it exists exactly when the write committed. A request that fails (4xx refusal, 5xx, timeout,
 *   lost connection) stores nothing, and its retry runs afresh; one whose answer was lost after its
 *   COMMIT (writeOutcome "unknown") did store it, and its retry gets that answer back.
 * - A retry while the first attempt is still in its transaction waits for it (up to
 *   IDEMPOTENCY_WAIT_MS) and then replays its answer; past that wait: 409 + Retry-After.
 * - Same key, different body: 422. Keys are per caller and per operation, and expire after
 *   IDEMPOTENCY_TTL_SECONDS; expired rows are swept in the background, a bounded batch at a time.
 */

/** Header on an answer that is a stored one replayed, not a new execution (Stripe's name for it). */
export const REPLAYED_HEADER = "Idempotent-Replayed";

/** A created resource's answer, as it is sent and stored. */
export interface Created<T, S extends 200 | 201> {
  status: S;
  body: T;
  headers: Record<string, string>;
}

/** What the route declares it answers; a replay is the same route's earlier answer, stored as text. */
type Answer<T, S extends 200 | 201> = Response & TypedResponse<T, S, "json">;

/**
 * How a route formats the answer a one-round-trip write stored (the created row, as to_jsonb, plus
 * the route's context): the same function formats the first answer, so a replay is byte for byte
 * the first one.
 */
export type Presenter<T, S extends 200 | 201> = (answer: StoredAnswer) => Created<T, S>;

const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_BATCH = 1_000;
/** Per isolate: a sweep after a keyed write at most this often (each isolate sweeps a bounded batch). */
let nextSweepAt = 0;

/** The header as an RFC 8941 sf-string ("…"), or a bare token as many clients send it. */
function parseKey(header: string): string {
  const value = header.trim();
  const quoted = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/.exec(value);
  const key = quoted ? quoted[1]!.replace(/\\(["\\])/g, "$1") : value;
  if (key.length === 0 || key.length > 255 || !/^[\x20-\x7e]+$/.test(key) || (!quoted && /["\\\s]/.test(key))) {
    throw new ValidationError([
      { field: "idempotency-key", in: "header", message: "must be 1-255 printable ASCII characters, e.g. a UUID" },
    ]);
  }
  return key;
}

/** JSON with object keys sorted: two bodies that mean the same hash the same. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function respond<T, S extends 200 | 201>(c: Context<AppEnv>, stored: StoredResponse, replayed: boolean): Answer<T, S> {
  const headers: Record<string, string> = { ...stored.headers, "Content-Type": "application/json" };
  if (replayed) headers[REPLAYED_HEADER] = "true";
  // The body is JSON this route produced (now or when the key was first used) from a T.
  return c.body(stored.body, stored.status as ContentfulStatusCode, headers) as unknown as Answer<T, S>;
}

function serialise<T, S extends 200 | 201>(created: Created<T, S>): StoredResponse {
  return { status: created.status, body: JSON.stringify(created.body), headers: created.headers };
}

/**
 * A creating request's key for a write done in one round trip: the SQL function claims it, waits
 * on a concurrent first request, writes and stores the answer (claim_idempotency_key and
 * store_idempotent_answer, drizzle/0007), so nothing is read before:
 *   const keyed = await KeyedRequest.of(c, "POST /appointments", body);  // undefined: no header
 *   const outcome = await book(db, ..., keyed?.claim);
 *   if (outcome.kind === "replay") return keyed!.replay(outcome.stored, present);
 *   return keyed ? keyed.answer(created) : answer(c, created);
 */
export class KeyedRequest {
  readonly claim: KeyClaim;
  readonly #c: Context<AppEnv>;

  private constructor(c: Context<AppEnv>, claim: KeyClaim) {
    this.#c = c;
    this.claim = claim;
  }

  static async of(c: Context<AppEnv>, scope: string, body: unknown): Promise<KeyedRequest | undefined> {
    const header = c.req.header("idempotency-key");
    if (header === undefined) return undefined;
    const { ttlSeconds, waitMs } = c.var.config.idempotency;
    const claim: KeyClaim = {
      caller: callerOf(c),
      scope,
      key: parseKey(header),
      requestHash: await sha256Hex(canonicalJson(body)),
      ttlSeconds,
      waitMs,
    };
    return new KeyedRequest(c, claim);
  }

  /** The stored answer, when one exists: for a request refused before its write could replay it. */
  async stored<T, S extends 200 | 201>(present: Presenter<T, S>): Promise<Answer<T, S> | undefined> {
    const row = await findStoredOutcome(this.#c.var.requestDb, this.#c.var.deadline, this.claim);
    return row ? replayOf(this.#c, row, this.claim.requestHash, present) : undefined;
  }

  replay<T, S extends 200 | 201>(row: IdempotencyKeyRow, present: Presenter<T, S>): Answer<T, S> {
    return replayOf(this.#c, row, this.claim.requestHash, present);
  }

  /** The first answer, stored with the write; expired keys are swept now and then. */
  answer<T, S extends 200 | 201>(created: Created<T, S>): Answer<T, S> {
    sweepNowAndThen(this.#c);
    return respond<T, S>(this.#c, serialise(created), false);
  }

  /** What the key's lock wait running out (55P03) means to the client: 409 + Retry-After. */
  stillRunning(): ConflictError {
    return stillRunning(this.claim.waitMs);
  }

  /** Inserts `values` into `table` under the key (create_idempotently), or replays the key's answer. */
  async create<T, Table extends PgTable>(
    table: Table,
    values: Table["$inferInsert"],
    present: Presenter<T, 201>,
  ): Promise<Answer<T, 201>> {
    const c = this.#c;
    let outcome: KeyedCreate;
    try {
      outcome = await createIdempotently(c.var.requestDb, c.var.deadline, table, values, {}, this.claim);
    } catch (err) {
      if (isLockTimeout(err)) throw this.stillRunning();
      throw err;
    }
    if (outcome.kind === "replay") return this.replay(outcome.stored, present);
    return this.answer(present(outcome.answer));
  }
}

/** A created resource's answer, without a key. */
export function answer<T, S extends 200 | 201>(c: Context<AppEnv>, created: Created<T, S>): Answer<T, S> {
  return respond<T, S>(c, serialise(created), false);
}

/** Whose keys these are: one caller's key never replays another's answer (nor reveals it exists). */
function callerOf(c: Context<AppEnv>): string {
  const principal = c.var.principal;
  return principal ? `${principal.role}:${principal.sub}` : "";
}

function replayOf<T, S extends 200 | 201>(
  c: Context<AppEnv>,
  row: IdempotencyKeyRow,
  hash: string,
  present?: Presenter<T, S>,
): Answer<T, S> {
  if (row.requestHash !== hash) {
    throw new UnprocessableError("This Idempotency-Key was already used with a different request body", [
      {
        field: "idempotency-key",
        in: "header",
        message: "was used with another body; use a new key for a new request",
      },
    ]);
  }
  if (row.storedAs === "row") {
    if (!present) throw new Error("an answer stored as a row needs the route's presenter to be replayed");
    return respond<T, S>(c, serialise(present(JSON.parse(row.responseBody) as StoredAnswer)), true);
  }
  return respond<T, S>(c, { status: row.responseStatus, body: row.responseBody, headers: row.responseHeaders }, true);
}

function stillRunning(waitMs: number): ConflictError {
  const err = new ConflictError("A request with this Idempotency-Key is still being processed; retry shortly", [
    { field: "idempotency-key", in: "header", message: "is in use by a request that has not finished" },
  ]);
  err.retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1_000));
  return err;
}

/** Expired keys go in bounded batches, after the response, at most once a minute per isolate. */
function sweepNowAndThen(c: Context<AppEnv>): void {
  const now = Date.now();
  if (now < nextSweepAt) return;
  nextSweepAt = now + SWEEP_INTERVAL_MS;
  inBackground(c, "sweep expired idempotency keys", async (deadline) => {
    const db = openRequestDb(c, "sweep");
    try {
      await deleteExpiredKeys(db, deadline, SWEEP_BATCH);
    } finally {
      await db.end();
    }
  });
}
