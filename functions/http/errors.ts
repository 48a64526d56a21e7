import { DrizzleQueryError } from "drizzle-orm/errors";
import type { RequestDb } from "../../db/client.ts";
import { isConnectionFailure } from "../../db/errors.ts";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ClientClosedError, DeadlineExceededError } from "../../core/deadline.ts";
import { ConfigError } from "../config/index.ts";
import type { AppEnv } from "../env.ts";
import { isWriteMethod } from "./methods.ts";
import { metrics } from "../observability/metrics.ts";
import { log } from "../../core/log.ts";

/** One entry per offending input, named the way the client sent it ("email", "query.limit"...). */
export interface FieldError {
  field: string;
  in: "body" | "query" | "path" | "header";
  message: string;
}

/** RFC 9457 problem details; `errors` only on validation problems. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
  /** On a 503 or 504 answer to a write: whether it may have been applied (see writeOutcomeOf). */
  writeOutcome?: WriteOutcome;
}

/**
 * What a write that answered 503 or 504 did: "not-applied" when nothing it sent can have changed
 * the database, so a plain retry is safe; "unknown" when the answer of a round trip was lost with
 * its COMMIT in flight, or an earlier round trip completed: read the resource back, or retry with
 * the same Idempotency-Key, before acting on it.
 */
export type WriteOutcome = "not-applied" | "unknown";

function writeOutcomeOf(c: Context<AppEnv>, status: number): WriteOutcome | undefined {
  if ((status !== 503 && status !== 504) || !isWriteMethod(c.req.method)) return undefined;
  // Unset when the request failed before the database middleware ran.
  const db = c.get("requestDb") as RequestDb | undefined;
  return db?.mayHaveWritten ? "unknown" : "not-applied";
}

const PROBLEM_BASE = "https://clinic-edge.dev/problems/";

/**
 * The problem kinds clinic-edge answers with: one table from kind to status and title, so a new
 * error is a new row here, not a new branch in onError.
 */
const KINDS = {
  "validation-error": { status: 400, title: "Your request is not valid" },
  "malformed-request": { status: 400, title: "The request could not be parsed" },
  unauthorized: { status: 401, title: "Authentication required" },
  forbidden: { status: 403, title: "Not allowed for your role" },
  "not-found": { status: 404, title: "Resource not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "The request conflicts with the current state" },
  "precondition-failed": { status: 412, title: "The resource has changed" },
  "payload-too-large": { status: 413, title: "Request body too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  unprocessable: { status: 422, title: "The request cannot be carried out" },
  "precondition-required": { status: 428, title: "If-Match required" },
  "too-many-requests": { status: 429, title: "Too many requests" },
  "client-closed-request": { status: 499, title: "Client closed the request" },
  "service-unavailable": { status: 503, title: "Service unavailable" },
  "deadline-exceeded": { status: 504, title: "Deadline exceeded" },
  "internal-error": { status: 500, title: "Internal server error" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof KINDS;

export class ApiError extends Error {
  readonly kind: ProblemKind;
  readonly errors: FieldError[] | undefined;
  /** Sent as Retry-After (seconds) when set: the same request may succeed then. */
  retryAfterSeconds: number | undefined;

  constructor(kind: ProblemKind, detail: string, errors?: FieldError[], options?: ErrorOptions) {
    super(detail, options);
    this.name = "ApiError";
    this.kind = kind;
    this.errors = errors;
  }

  get status(): number {
    return KINDS[this.kind].status;
  }
}

export class ValidationError extends ApiError {
  constructor(errors: FieldError[]) {
    const first = errors[0];
    super("validation-error", first ? `${first.field}: ${first.message}` : "Invalid request", errors);
    this.name = "ValidationError";
  }
}

export class NotFoundError extends ApiError {
  constructor(resource: string, id: string) {
    super("not-found", `${resource} ${id} does not exist`);
    this.name = "NotFoundError";
  }
}

export class ConflictError extends ApiError {
  constructor(detail: string, errors?: FieldError[], options?: ErrorOptions) {
    super("conflict", detail, errors, options);
    this.name = "ConflictError";
  }
}

/** A well-formed request that a business rule refuses (inactive doctor, slot in the past...). */
export class UnprocessableError extends ApiError {
  constructor(detail: string, errors?: FieldError[], options?: ErrorOptions) {
    super("unprocessable", detail, errors, options);
    this.name = "UnprocessableError";
  }
}

/** Seconds for a Retry-After header: at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1_000));
}

/** A dependency cannot serve the request now (503); `Retry-After` says when it may. */
export class UnavailableError extends ApiError {
  constructor(detail: string, retryAfterMs: number, options?: ErrorOptions) {
    super("service-unavailable", detail, undefined, options);
    this.name = "UnavailableError";
    this.retryAfterSeconds = retryAfterSeconds(retryAfterMs);
  }
}

/** If-Match named a version the resource no longer has (412): someone else changed it first. */
export class PreconditionFailedError extends ApiError {
  constructor(resource: string, id: string) {
    super("precondition-failed", `${resource} ${id} has changed since the version in If-Match; fetch it again`, [
      { field: "if-match", in: "header", message: "does not match the current version" },
    ]);
    this.name = "PreconditionFailedError";
  }
}

/** An update sent without If-Match (428): blind overwrites would lose concurrent changes. */
export class PreconditionRequiredError extends ApiError {
  constructor(resource: string) {
    super("precondition-required", `Updating a ${resource} requires an If-Match header with its ETag`, [
      { field: "if-match", in: "header", message: "is required" },
    ]);
    this.name = "PreconditionRequiredError";
  }
}

/**
 * 401: no credentials where the route needs them, or credentials that do not verify. RFC 6750's
 * `WWW-Authenticate` challenge rides on the error so onError can set it: `error` is omitted when
 * the request carried no token at all (the RFC's rule), `invalid_token` otherwise.
 */
export class UnauthorizedError extends ApiError {
  readonly challenge: string;
  constructor(detail: string, tokenPresented: boolean, options?: ErrorOptions) {
    super("unauthorized", detail, undefined, options);
    this.name = "UnauthorizedError";
    const description = detail.replace(/["\\]/g, "'");
    this.challenge = tokenPresented
      ? `Bearer realm="clinic-edge", error="invalid_token", error_description="${description}"`
      : 'Bearer realm="clinic-edge"';
  }
}

/** 403: an authenticated caller whose role may not do this (never for someone else's resource: that is a 404). */
export class ForbiddenError extends ApiError {
  constructor(detail: string, errors?: FieldError[]) {
    super("forbidden", detail, errors);
    this.name = "ForbiddenError";
  }
}

export function problemType(kind: ProblemKind): string {
  return PROBLEM_BASE + kind;
}

export function problemResponse(
  c: Context<AppEnv>,
  kind: ProblemKind,
  detail: string,
  errors?: FieldError[],
): Response {
  const { status, title } = KINDS[kind];
  const writeOutcome = writeOutcomeOf(c, status);
  const body: Problem = {
    type: problemType(kind),
    title,
    status,
    detail,
    instance: new URL(c.req.url).pathname,
    requestId: c.get("requestId"),
    ...(errors ? { errors } : {}),
    ...(writeOutcome ? { writeOutcome } : {}),
  };
  // 499 (client closed request, nginx's convention) is not in Hono's status union.
  return c.newResponse(JSON.stringify(body), status as ContentfulStatusCode, {
    "Content-Type": "application/problem+json",
  });
}

/** Postgres SQLSTATEs that are the client's doing, found under Drizzle's DrizzleQueryError wrapper. */
interface PgErrorLike {
  code: string;
  constraint?: string;
  detail?: string;
}

function pgError(err: unknown): PgErrorLike | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as Partial<PgErrorLike>).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return e as unknown as PgErrorLike;
  }
  return undefined;
}

const CONSTRAINT_ERRORS: Record<string, () => ApiError> = {
  appointments_no_overlap: () =>
    new ConflictError("The doctor already has an appointment that overlaps this time", [
      { field: "startsAt", in: "body", message: "overlaps another appointment of this doctor" },
    ]),
  patients_email_lower_key: () =>
    new ConflictError("A patient with this email already exists", [
      { field: "email", in: "body", message: "is already registered" },
    ]),
  // Says the id is someone's, not whose: bounded like the email's answer (docs/security.md).
  patients_insurance_member_id_key: () =>
    new ConflictError("This insurance member id belongs to another patient", [
      { field: "insuranceMemberId", in: "body", message: "is bound to another patient" },
    ]),
  appointments_doctor_id_doctors_id_fk: () =>
    new UnprocessableError("The doctor does not exist", [{ field: "doctorId", in: "body", message: "no such doctor" }]),
  appointments_patient_id_patients_id_fk: () =>
    new UnprocessableError("The patient does not exist", [
      { field: "patientId", in: "body", message: "no such patient" },
    ]),
};

/** How long a client should wait before retrying after the database connection failed. */
const DATABASE_RETRY_AFTER_MS = 1_000;

/**
 * Maps the database's refusals (constraints, bad values) to the client's errors, and a failed or
 * lost connection to 503 + Retry-After (the request may be retried, with the same Idempotency-Key
 * for a create; a write's answer says in writeOutcome whether it may have been applied); undefined
 * otherwise.
 */
export function fromDatabaseError(err: unknown): ApiError | undefined {
  if (isConnectionFailure(err)) {
    return new UnavailableError(
      "The database connection failed before the request completed; retry shortly (with the same Idempotency-Key for a create)",
      DATABASE_RETRY_AFTER_MS,
      { cause: err },
    );
  }
  const pg = pgError(err);
  if (!pg) return undefined;
  const byConstraint = pg.constraint ? CONSTRAINT_ERRORS[pg.constraint] : undefined;
  if (byConstraint) return byConstraint();
  switch (pg.code) {
    case "23P01": // exclusion_violation
    case "23505": // unique_violation
      return new ConflictError("The change conflicts with existing data");
    case "23503": // foreign_key_violation
      return new UnprocessableError("A referenced resource does not exist");
    case "22007": // invalid_datetime_format
    case "22008": // datetime_field_overflow
    case "22P02": // invalid_text_representation
    case "22021": // character_not_in_repertoire (e.g. NUL in text)
      return new ApiError("validation-error", "A value is out of the range the database accepts");
    default:
      return undefined;
  }
}

const HTTP_KINDS: Partial<Record<number, ProblemKind>> = {
  400: "malformed-request",
  404: "not-found",
  405: "method-not-allowed",
  413: "payload-too-large",
  415: "unsupported-media-type",
};

function loggableMessage(err: Error): string {
  return err instanceof DrizzleQueryError && err.cause instanceof Error ? err.cause.message : err.message;
}

/** The one place where errors become HTTP responses. */
export function onError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof DeadlineExceededError) {
    metrics.deadlineExceeded.inc({ stage: err.stage });
    return problemResponse(c, "deadline-exceeded", `The request's ${err.message}`);
  }
  if (err instanceof ClientClosedError) {
    metrics.clientClosed.inc();
    // Not a server error: counted, and the answer goes nowhere.
    log.info("client closed request", { requestId: c.get("requestId") });
    return problemResponse(c, "client-closed-request", err.message);
  }
  if (err instanceof ConfigError) return refusedConfiguration(c, err);
  const apiError = err instanceof ApiError ? err : fromDatabaseError(err);
  if (apiError?.kind === "service-unavailable" && !(err instanceof ApiError)) {
    // The database went away: not the client's doing, not a bug, worth an operator's eye.
    log.warn("database unavailable", { requestId: c.get("requestId"), detail: loggableMessage(err) });
  }
  if (apiError) {
    const res = problemResponse(c, apiError.kind, apiError.message, apiError.errors);
    if (apiError.retryAfterSeconds !== undefined) res.headers.set("Retry-After", String(apiError.retryAfterSeconds));
    if (apiError instanceof UnauthorizedError) res.headers.set("WWW-Authenticate", apiError.challenge);
    return res;
  }

  if (err instanceof HTTPException) {
    const kind = HTTP_KINDS[err.status];
    if (kind) return problemResponse(c, kind, err.message || KINDS[kind].title);
  }

  log.error("unhandled error", {
    requestId: c.get("requestId"),
    method: c.req.method,
    path: new URL(c.req.url).pathname,
    error: err.name,
    // Drizzle's wrapper message lists the query's parameters (personal data): log the driver's
    // own message instead, which names the failure without values.
    detail: loggableMessage(err),
  });
  return problemResponse(c, "internal-error", "An unexpected error occurred; it has been logged");
}

/** Configuration refusals already logged by this isolate: one line each, not one per request. */
const loggedRefusals = new Set<string>();

/**
 * A configuration the Worker refuses (invalid, or unsafe in production): every request, /readyz
 * included, answers 503 so a deploy check or load balancer sees it at once. The variable names go
 * to the log only, once per isolate; the public answer says nothing about the setup.
 */
function refusedConfiguration(c: Context<AppEnv>, err: ConfigError): Response {
  if (!loggedRefusals.has(err.message)) {
    loggedRefusals.add(err.message);
    log.error("configuration refused", { detail: err.message });
  }
  return problemResponse(
    c,
    "service-unavailable",
    "The service is not configured correctly; its operators have been told",
  );
}
