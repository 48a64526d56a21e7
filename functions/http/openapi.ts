import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import type { AppEnv } from "../env.ts";
import { ValidationError, type FieldError } from "./errors.ts";

const TARGETS: Record<string, FieldError["in"]> = {
  json: "body",
  query: "query",
  param: "path",
  header: "header",
  form: "body",
  cookie: "header",
};

export function fieldErrors(error: ZodError, target: string): FieldError[] {
  const where = TARGETS[target] ?? "body";
  return error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.map(String).join(".") : where,
    in: where,
    message: issue.message,
  }));
}

/** A sub-app whose request validation failures become 400 problems naming every offending field. */
export function resourceApp(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw new ValidationError(fieldErrors(result.error, result.target));
    },
  });
}

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "https://clinic-edge.dev/problems/validation-error" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z
      .array(
        z.object({
          field: z.string().openapi({ example: "email" }),
          in: z.enum(["body", "query", "path", "header"]),
          message: z.string(),
        }),
      )
      .optional(),
    writeOutcome: z
      .enum(["not-applied", "unknown"])
      .optional()
      .openapi({
        description:
          "On a 503 or 504 answer to a write only. not-applied: nothing was changed, retrying is safe. " +
          "unknown: the write may have been applied (the database's answer was lost); read the resource " +
          "back, or retry with the same Idempotency-Key.",
      }),
  })
  .openapi("Problem", { description: "RFC 9457 problem details" });

export const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});

/** The error answers every route may give; routes add their own (404, 409, 422...). */
export const commonErrors = {
  400: problem("Invalid input: the `errors` list names each offending field"),
  429: problem("The caller's rate limit is spent (Retry-After, RateLimit headers)"),
  500: problem("Unexpected error (details are logged, never returned)"),
  503: problem("A dependency cannot answer now, or the isolate is shedding load (Retry-After)"),
  504: problem("The request's deadline ran out (`detail` says where)"),
} as const;
export const notFound = { 404: problem("No such resource") } as const;
export const conflict = { 409: problem("Conflicts with existing data") } as const;
export const unprocessable = { 422: problem("Valid input that a business rule refuses") } as const;
export const bodyErrors = {
  413: problem("Body larger than MAX_BODY_BYTES"),
  415: problem("Content-Type is not application/json"),
} as const;

export const preconditionErrors = {
  412: problem("If-Match names a version the resource no longer has: fetch it again and reapply the change"),
  428: problem("If-Match is missing: send the ETag of the version being changed"),
} as const;
export const staleVersion = { 412: preconditionErrors[412] } as const;
export const idempotencyErrors = {
  409: problem(
    "Conflicts with existing data, or a request with the same Idempotency-Key is still running (Retry-After)",
  ),
  422: problem("A business rule refuses it, or the Idempotency-Key was used with another body"),
} as const;

/** If-Match on updates; checked by the handler (428 when an update requires it and it is absent). */
export const IfMatchHeaders = z.object({
  "if-match": z
    .string()
    .optional()
    .openapi({
      param: { in: "header" },
      description: 'The ETag of the version being changed (e.g. `"3"`), or `*` for whatever version is current.',
      example: '"1"',
    }),
});

/** If-None-Match on single-resource GETs: a client's cached copy is still current -> 304. */
export const IfNoneMatchHeaders = z.object({
  "if-none-match": z
    .string()
    .optional()
    .openapi({
      param: { in: "header" },
      description: 'ETags of copies the client holds (e.g. `"3"`); the answer is 304 with no body when one is current.',
      example: '"1"',
    }),
});

/** Idempotency-Key on creating POSTs (functions/http/idempotency.ts). */
export const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .optional()
    .openapi({
      param: { in: "header" },
      description:
        "Makes retries safe: a request repeated with the same key and body gets the first answer back " +
        "(with `Idempotent-Replayed: true`) instead of creating a second resource. Same key with another " +
        "body: 422. Keys are kept for IDEMPOTENCY_TTL_SECONDS (24 h by default).",
      example: '"5f0c1e52-9c6b-4c38-8f0e-2f5d3f1c9a10"',
    }),
});

const ETAG_HEADER = {
  ETag: {
    description:
      "The version of the resource: send it in If-None-Match to revalidate a copy (304), or in If-Match to update it",
    schema: { type: "string" as const },
  },
};

/** The answer to a GET whose If-None-Match names the current version. */
export const notModified = {
  304: { description: "The copy named in If-None-Match is current; no body", headers: ETAG_HEADER },
} as const;

/** A JSON answer that carries the resource's ETag. */
export const versionedResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  ...jsonResponse(schema, description),
  headers: ETAG_HEADER,
});

export const IdParam = z.object({
  id: z.uuid().openapi({ param: { name: "id", in: "path" }, example: "3f0c7a52-6a8f-4c56-9d43-1b7f5a0e8e21" }),
});

/** The request and answers of a single-resource GET: its id, If-None-Match, 200 with an ETag or 304. */
export const conditionalGet = <T extends z.ZodType>(schema: T, description: string) => ({
  request: { params: IdParam, headers: IfNoneMatchHeaders },
  responses: { 200: versionedResponse(schema, description), ...notModified, ...commonErrors, ...notFound },
});

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const LimitQuery = z.coerce
  .number()
  .int()
  .min(1)
  .max(100)
  .default(20)
  .openapi({ param: { name: "limit", in: "query" }, example: 20, description: "Page size, 1-100" });

export const CursorQuery = z
  .string()
  .max(512)
  .optional()
  .openapi({ param: { name: "cursor", in: "query" }, description: "`nextCursor` of the previous page" });

export const page = <T extends z.ZodType>(item: T, name: string) =>
  z
    .object({
      data: z.array(item),
      nextCursor: z
        .string()
        .nullable()
        .openapi({ description: "Pass as `cursor` for the next page; null on the last" }),
    })
    .openapi(name);

/**
 * Free text as Postgres can store it: trimmed, bounded, and without NUL, which `text` cannot hold
 * (the database would refuse it with an encoding error after the request was accepted).
 */
export const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((v) => !v.includes("\u0000"), "must not contain NUL characters");

const EARLIEST = Date.UTC(1900, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);

/** ISO 8601 instant with an explicit offset, e.g. 2026-12-01T09:30:00Z, within years 1900-2199. */
export const Instant = z.iso
  .datetime({ offset: true })
  .refine((v) => {
    const t = Date.parse(v);
    // NaN: the format check has already reported this value.
    return Number.isNaN(t) || (t >= EARLIEST && t < LATEST);
  }, "must be between 1900-01-01 and 2199-12-31")
  .openapi({ example: "2026-12-01T09:30:00Z" });

/** `POST /` that creates a resource: Idempotency-Key, a JSON body, 201 with the new version's ETag. */
export function creationRoute<B extends z.ZodType, R extends z.ZodType>(spec: {
  tag: string;
  operationId: string;
  summary: string;
  description?: string;
  body: B;
  created: R;
  answer: string;
}) {
  return createRoute({
    method: "post",
    path: "/",
    tags: [spec.tag],
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description === undefined ? {} : { description: spec.description }),
    request: { headers: IdempotencyHeaders, body: jsonBody(spec.body) },
    responses: {
      201: versionedResponse(spec.created, spec.answer),
      ...commonErrors,
      ...idempotencyErrors,
      ...bodyErrors,
    },
  });
}
