import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { ForbiddenError, NotFoundError, UnauthorizedError } from "../http/errors.ts";
import type { Principal, Role } from "./principal.ts";

/**
 * How a patient's or doctor's access to a resource depends on it being theirs. Admins own everything.
 * - path: the path parameter is the caller's own id (`/patients/{id}`, `/doctors/{id}/schedule`);
 *   enforced by authorize() before the handler, a stranger's id is a 404.
 * - row: only the loaded row tells (an appointment's patientId/doctorId); the handler calls
 *   ownedOrNotFound() right after loading it, a stranger's row is a 404.
 * - body: the request body names the party the caller acts for (booking's patientId); the handler
 *   calls assertActsAsSelf(), another patient is a 403 (the same answer whether or not they exist).
 */
export type Ownership = { by: "path"; param: string } | { by: "row" } | { by: "body"; field: string };

export interface Rule {
  /** "public": anyone, without a token. Otherwise the roles that may call. */
  allow: "public" | readonly Role[];
  /** What a patient or doctor must own on top of having the role. */
  owner?: Ownership;
  /** When the query has all these values, only these roles may call (embedding private data in a public list). */
  restrict?: { query: Readonly<Record<string, string>>; allow: readonly Role[] };
}

export type Policy = Readonly<Record<string, Rule>>;

const ADMIN = ["admin"] as const;

/**
 * THE access policy: one entry per operation, keyed "METHOD /path/{param}" as in the OpenAPI
 * document. A route without an entry is refused to everyone (authorize() fails closed), and a test
 * enumerates /openapi.json to prove every operation has one. The security suite
 * (test/integration/security/security-suite.test.ts) derives its expectations from this table.
 *
 * Decisions (docs/security.md):
 * - a doctor's schedule is public like their availability: patients plan visits with both;
 * - `GET /doctors?include=appointments` embeds appointments (patient ids): admins only;
 * - doctors may cancel their own appointments (illness), patients theirs; only doctors complete;
 * - /metrics: admins, or the METRICS_TOKEN bearer (role "metrics") for scrapers.
 */
export const POLICY: Policy = {
  "GET /healthz": { allow: "public" },
  "GET /readyz": { allow: "public" },
  "GET /openapi.json": { allow: "public" },
  "GET /docs": { allow: "public" },
  "GET /metrics": { allow: ["admin", "metrics"] },
  "GET /debug/inflight": { allow: ADMIN },

  "POST /doctors": { allow: ADMIN },
  "GET /doctors": { allow: "public", restrict: { query: { include: "appointments" }, allow: ADMIN } },
  "GET /doctors/{id}": { allow: "public" },
  "PATCH /doctors/{id}": { allow: ADMIN },
  "POST /doctors/{id}/deactivate": { allow: ADMIN },
  "GET /doctors/{id}/schedule": { allow: "public" },
  "PUT /doctors/{id}/schedule": { allow: ["admin", "doctor"], owner: { by: "path", param: "id" } },
  "GET /doctors/{id}/availability": { allow: "public" },

  "POST /patients": { allow: ADMIN },
  "GET /patients": { allow: ADMIN },
  "GET /patients/{id}": { allow: ["admin", "patient"], owner: { by: "path", param: "id" } },
  "PATCH /patients/{id}": { allow: ["admin", "patient"], owner: { by: "path", param: "id" } },
  "GET /patients/{id}/eligibility": { allow: ["admin", "patient"], owner: { by: "path", param: "id" } },

  "POST /appointments": { allow: ["admin", "patient"], owner: { by: "body", field: "patientId" } },
  // Scoped by the handler (scoped()): a patient sees theirs, a doctor theirs.
  "GET /appointments": { allow: ["admin", "patient", "doctor"] },
  "GET /appointments/{id}": { allow: ["admin", "patient", "doctor"], owner: { by: "row" } },
  "PATCH /appointments/{id}": { allow: ["admin", "patient"], owner: { by: "row" } },
  "POST /appointments/{id}/cancel": { allow: ["admin", "patient", "doctor"], owner: { by: "row" } },
  "POST /appointments/{id}/complete": { allow: ["admin", "doctor"], owner: { by: "row" } },
  "GET /appointments/{id}/history": { allow: ["admin", "patient", "doctor"], owner: { by: "row" } },
};

/** Hono's route path (`/appointments/:id`) in OpenAPI's syntax (`/appointments/{id}`). */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:(\w+)/g, "{$1}");
}

/** The path parameters of `pathname` under an OpenAPI template (both have the same segments once matched). */
export function pathParams(template: string, pathname: string): Record<string, string> {
  const names = template.split("/");
  const values = pathname.split("/");
  const params: Record<string, string> = {};
  names.forEach((name, i) => {
    const m = /^\{(\w+)\}$/.exec(name);
    if (m && values[i] !== undefined) {
      try {
        params[m[1]!] = decodeURIComponent(values[i]);
      } catch {
        params[m[1]!] = values[i];
      }
    }
  });
  return params;
}

function allows(allow: Rule["allow"], principal: Principal | undefined): boolean {
  return allow === "public" || (principal !== undefined && allow.includes(principal.role));
}

/** The roles the rule admits for this request: the stricter list when the query asks for more. */
function effectiveAllow(rule: Rule, query: URLSearchParams): Rule["allow"] {
  const r = rule.restrict;
  if (r && Object.entries(r.query).every(([k, v]) => query.get(k) === v)) return r.allow;
  return rule.allow;
}

export interface RequestFacts {
  principal: Principal | undefined;
  /** The operation's template, "/patients/{id}". */
  template: string;
  pathname: string;
  query: URLSearchParams;
}

/**
 * The role and path-ownership part of a rule, checked before the handler (no data needed):
 * 401 without a principal, 403 for a role the rule does not admit, 404 for a path that names
 * another patient or doctor. Row and body ownership are the handler's (ownedOrNotFound, assertActsAsSelf).
 */
export function enforce(rule: Rule, facts: RequestFacts): void {
  const allow = effectiveAllow(rule, facts.query);
  if (allow === "public") return;
  const { principal } = facts;
  if (!principal) throw new UnauthorizedError("This operation needs a bearer token", false);
  if (!allows(allow, principal)) throw new ForbiddenError(`The ${principal.role} role may not do this`);
  const owner = rule.owner;
  // Only admins are unrestricted: any other role (a new one, the scraper's) must own the path.
  if (owner?.by === "path" && principal.role !== "admin") {
    const id = pathParams(facts.template, facts.pathname)[owner.param];
    // 404, not 403: whether someone else's record exists is not the caller's business.
    if (id !== principal.sub) throw new NotFoundError(resourceOf(facts.template), id ?? "");
  }
}

function resourceOf(template: string): string {
  return template.startsWith("/doctors") ? "Doctor" : "Patient";
}

/** Parties of a row whose access depends on ownership. */
export interface Owned {
  patientId: string;
  doctorId: string;
}

function ownsRow(principal: Principal | undefined, row: Owned): boolean {
  if (!principal) return false;
  if (principal.role === "patient") return row.patientId === principal.sub;
  if (principal.role === "doctor") return row.doctorId === principal.sub;
  return principal.role === "admin";
}

/**
 * The row, when the caller may see it; otherwise the same 404 as a row that does not exist.
 * Call it right after loading the row, before using it.
 */
export function ownedOrNotFound<T extends Owned>(
  c: Context<AppEnv>,
  row: T | undefined,
  resource: string,
  id: string,
): T {
  if (!row || !ownsRow(c.var.principal, row)) throw new NotFoundError(resource, id);
  return row;
}

/** Whether the caller's access depends on owning the row (a write must then load it first): all but admins. */
export function ownershipApplies(c: Context<AppEnv>): boolean {
  return c.var.principal?.role !== "admin";
}

/**
 * The filter a list must apply whatever the query says: a patient sees their own, a doctor theirs,
 * an admin everything. Any other caller is refused rather than given an unscoped list.
 */
export function ownerScope(c: Context<AppEnv>): Partial<Owned> {
  const principal = c.var.principal;
  if (principal?.role === "patient") return { patientId: principal.sub };
  if (principal?.role === "doctor") return { doctorId: principal.sub };
  if (principal?.role === "admin") return {};
  throw new ForbiddenError("Only patients, doctors and admins may list these");
}

/**
 * The caller's filter with the owner scope forced into it; undefined when the two contradict (a
 * patient asking for another patient's appointments), which is an empty list, not an error.
 */
export function scoped<F extends { patientId?: string | undefined; doctorId?: string | undefined }>(
  c: Context<AppEnv>,
  filter: F,
): F | undefined {
  const scope = ownerScope(c);
  for (const key of ["patientId", "doctorId"] as const) {
    const forced = scope[key];
    if (forced !== undefined && filter[key] !== undefined && filter[key] !== forced) return undefined;
  }
  return { ...filter, ...scope };
}

/**
 * A patient acts only for themselves: the body's `field` must be their own id. 403, with the field
 * named, and the same answer whether the other patient exists or not.
 */
export function assertActsAsSelf(c: Context<AppEnv>, value: string, field: string): void {
  const principal = c.var.principal;
  if (principal?.role === "patient" && value !== principal.sub) {
    throw new ForbiddenError("Patients can only act for themselves", [
      { field, in: "body", message: "must be your own patient id" },
    ]);
  }
}
