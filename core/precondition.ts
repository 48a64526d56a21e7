/**
 * Optimistic concurrency (RFC 9110 §13.1.1): a row's `version` is its ETag, a client sends it back
 * in If-Match, and the update applies only to that version. The check and the write are one
 * statement (`UPDATE … WHERE version = …`), so two clients editing at once cannot both win.
 */

/**
 * What If-Match asks for: any current version (`*`), or one of the listed versions. Weak tags
 * (W/"…") and tags that are not ours never match: If-Match uses the strong comparison.
 */
export type Precondition = { any: true } | { any: false; versions: number[] };

/** True when a row at `version` satisfies the precondition (absent: no condition). */
export function satisfies(precondition: Precondition | undefined, version: number): boolean {
  return !precondition || precondition.any || precondition.versions.includes(version);
}
