import { type RouteHandler, createRoute, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../env.ts";
import { findPatient } from "../../../db/queries/patients.ts";
import { NotFoundError, UnavailableError, UnprocessableError } from "../../http/errors.ts";
import { IdParam, ProblemSchema, commonErrors, jsonResponse, notFound, unprocessable } from "../../http/openapi.ts";
import { checkEligibility, type UnknownReason } from "../../insurance/eligibility.ts";
import { EligibilityQuerySchema, EligibilitySchema } from "./eligibility-schemas.ts";

const REASONS: Record<UnknownReason, string> = {
  "breaker-open": "The insurer is failing; it is not being called for now",
  "upstream-failed": "The insurer could not answer",
  "upstream-timeout": "The insurer did not answer in time",
  "not-configured": "Insurance eligibility checks are not configured on this server",
};

const problemContent = { "application/problem+json": { schema: ProblemSchema } };

export const route = createRoute({
  method: "get",
  path: "/{id}/eligibility",
  tags: ["patients"],
  operationId: "getPatientEligibility",
  summary: "Ask the patient's insurer about coverage",
  description:
    "Asks the insurer (through its circuit breaker) whether the patient's insurance member id is covered on " +
    "`date`. `Server-Timing: breaker;desc=…, insurance;dur=…` reports the breaker's state and the call.",
  request: { params: IdParam, query: EligibilityQuerySchema },
  responses: {
    200: jsonResponse(EligibilitySchema, "The insurer's answer"),
    ...commonErrors,
    ...notFound,
    ...unprocessable,
    503: {
      description: "The insurer cannot answer now: circuit breaker open, or the call failed or was too slow",
      headers: z.object({
        "Retry-After": z.string().openapi({
          description: "Seconds until the breaker may let calls through again (at least 1)",
          example: "30",
        }),
      }),
      content: problemContent,
    },
    504: { description: "The request's budget ran out waiting for the insurer", content: problemContent },
  },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const date = c.req.valid("query").date ?? new Date().toISOString().slice(0, 10);
  const patient = await findPatient(c.var.requestDb, c.var.deadline, id);
  if (!patient) throw new NotFoundError("Patient", id);
  if (patient.insuranceMemberId === null) {
    throw new UnprocessableError(`Patient ${id} has no insurance member id`, [
      { field: "insuranceMemberId", in: "body", message: "is not set; add it with PATCH /patients/{id}" },
    ]);
  }
  const outcome = await checkEligibility(c, patient.insuranceMemberId, date);
  if (outcome.eligibility === "unknown") throw new UnavailableError(REASONS[outcome.reason], outcome.retryAfterMs);
  return c.json(
    { patientId: id, insuranceMemberId: patient.insuranceMemberId, date, eligibility: outcome.eligibility },
    200,
  );
};
