/** The roles a bearer JWT may carry (its role claim); anything else is an invalid token. */
export const TOKEN_ROLES = ["admin", "doctor", "patient"] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/**
 * Every role the policy knows. "metrics" is no JWT role: it is what the static METRICS_TOKEN
 * bearer authenticates as, so a Prometheus scraper gets /metrics and nothing else.
 */
export type Role = TokenRole | "metrics";

/** Who is calling: set on the context by authenticate() when a valid bearer token came with the request. */
export interface Principal {
  /** The token's `sub`: a patient's or doctor's id for those roles, any identifier for admins. */
  sub: string;
  role: Role;
}
