/**
 * SQLSTATE 57014: statement_timeout fired or the statement was cancelled. Drizzle wraps the
 * driver's error (DrizzleQueryError), the HTTP path's batches do not: look a few causes deep.
 */
export function isQueryCanceled(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === "57014") return true;
  }
  return false;
}
