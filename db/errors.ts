/**
 * The SQLSTATE of a database error. Drizzle wraps the driver's error (DrizzleQueryError), the HTTP
 * path's batches do not: look a few causes deep.
 */
export function sqlStateOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** SQLSTATE 57014: statement_timeout fired or the statement was cancelled. */
export function isQueryCanceled(err: unknown): boolean {
  return sqlStateOf(err) === "57014";
}

/**
 * A rule a SQL function refused the write on (SQLSTATE CE001, raised to roll back what it did):
 * the reason is the message, and DETAIL carries what the caller needs next, if anything.
 */
export function refusalOf(err: unknown): { reason: string; detail: string | undefined } | undefined {
  if (sqlStateOf(err) !== "CE001") return undefined;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code !== "CE001") continue;
    const detail = (e as { detail?: unknown }).detail;
    return { reason: e.message, detail: typeof detail === "string" ? detail : undefined };
  }
  return undefined;
}

/** SQLSTATE 55P03: lock_timeout fired while waiting for a lock. */
export function isLockTimeout(err: unknown): boolean {
  return sqlStateOf(err) === "55P03";
}

/** SQLSTATEs that mean the connection, not the statement, failed: the server went away or refused us. */
const CONNECTION_STATES = new Set([
  "57P01", // admin_shutdown: the backend was terminated (pg_terminate_backend, restart, Neon scale-to-zero)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting up or shutting down
  "53300", // too_many_connections
]);

/**
 * What the drivers say when there is no usable connection, on either path: the WebSocket path's
 * pg client ("Connection terminated unexpectedly", connect timeouts, socket errors) and the HTTP
 * path's NeonDbError for a failed fetch or a 5xx from the endpoint (a SQL error is a 400 with a
 * SQLSTATE instead, and never matches).
 */
const CONNECTION_MESSAGES =
  /connection terminated|timeout exceeded when trying to connect|error connecting to database|server error \(http status 5\d\d\)|network connection lost|websocket|econnrefused|econnreset|socket hang up/i;

/**
 * True when a database call failed because the connection could not be made or was lost (the
 * server is down, restarting, or killed our backend). Nothing the transaction did is committed then
 * (unless the loss hit between COMMIT and its answer, which an Idempotency-Key retry resolves), so
 * the request may be retried: 503 + Retry-After, not 500.
 */
export function isConnectionFailure(err: unknown): boolean {
  const state = sqlStateOf(err);
  if (state !== undefined) return state.startsWith("08") || CONNECTION_STATES.has(state);
  return causeSays(err, CONNECTION_MESSAGES);
}

/** Whether the message of `err` or of one of its first causes matches `pattern`. */
function causeSays(err: unknown, pattern: RegExp): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (pattern.test(e.message)) return true;
  }
  return false;
}

/** SQLSTATEs and driver messages of a connection that was never made. */
const NEVER_CONNECTED_STATES = new Set([
  "08001", // sqlclient_unable_to_establish_sqlconnection
  "08004", // sqlserver_rejected_establishment_of_sqlconnection
  "53300", // too_many_connections
  "57P03", // cannot_connect_now
]);
const NEVER_CONNECTED_MESSAGES = /econnrefused|timeout exceeded when trying to connect|too many connections/i;

/**
 * The connection was never made: refused, timed out connecting, or turned away at startup. Nothing
 * reached Postgres then, so nothing can have been written.
 */
export function neverConnected(err: unknown): boolean {
  const state = sqlStateOf(err);
  if (state !== undefined) return NEVER_CONNECTED_STATES.has(state);
  return causeSays(err, NEVER_CONNECTED_MESSAGES);
}

/** Failures that may have come after Postgres committed (see markInDoubt). */
const inDoubt = new WeakSet<object>();

/**
 * Marks `err` as a failure after which the work may have committed: the answer was lost with a
 * COMMIT (or a one-round-trip transaction) in flight, by a dropped connection or by the deadline
 * cutting the wait. Postgres may have committed just before; only reading back can tell.
 */
export function markInDoubt<E>(err: E): E {
  if (typeof err === "object" && err !== null) inDoubt.add(err);
  return err;
}

export function isInDoubt(err: unknown): boolean {
  return typeof err === "object" && err !== null && inDoubt.has(err);
}

/**
 * Whether a round trip that failed with `err`, after it was sent, may still have committed: yes,
 * unless Postgres answered with an error of the statement itself (its transaction then rolled back,
 * 57014 from statement_timeout included) or the connection was never made. A terminated backend
 * (57P01) counts as lost: the round trip cannot say which of its statements it reached.
 */
export function answerLost(err: unknown, aborted: boolean): boolean {
  if (aborted) return !isQueryCanceled(err);
  return isConnectionFailure(err) && !neverConnected(err);
}
