import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { updatePatient } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { ApiError, NotFoundError, PreconditionFailedError } from "../../http/errors.ts";
import {
  IdParam,
  IfMatchHeaders,
  bodyErrors,
  commonErrors,
  jsonBody,
  notFound,
  preconditionErrors,
  problem,
  versionedResponse,
} from "../../http/openapi.ts";
import { etagOf, requireIfMatch } from "../../http/preconditions.ts";
import { PatientSchema, UpdatePatientSchema, toPatient } from "./schemas.ts";

const tags = ["patients"];

export const route = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  operationId: "updatePatient",
  summary: "Change a patient's details",
  description:
    "Requires If-Match with the patient's ETag: a change made meanwhile by someone else is never overwritten (412). " +
    "An `insuranceMemberId` another patient holds is refused (409), and a patient may change their own at most " +
    "INSURANCE_MEMBER_ID_CHANGES_PER_DAY times in 24 hours (429 with Retry-After); each change is recorded with who made it.",
  request: { params: IdParam, headers: IfMatchHeaders, body: jsonBody(UpdatePatientSchema) },
  responses: {
    200: versionedResponse(PatientSchema, "The updated patient"),
    ...commonErrors,
    429: problem(
      "The caller's rate limit is spent (RateLimit headers), or the patient's own `insuranceMemberId` changes for the day are (INSURANCE_MEMBER_ID_CHANGES_PER_DAY); Retry-After either way",
    ),
    ...notFound,
    409: problem("The `email` or `insuranceMemberId` belongs to another patient"),
    ...preconditionErrors,
    ...bodyErrors,
  },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const precondition = requireIfMatch(c, "patient");
  const result = await updatePatient(
    c.var.requestDb,
    c.var.deadline,
    id,
    c.req.valid("json"),
    precondition,
    c.var.config.insuranceMemberIdChangesPerDay,
  );
  if (!result.ok) {
    if (result.reason === "member-id-changes-exhausted")
      throw memberIdChangesExhausted(result.limit, result.retryAfterSeconds);
    throw result.reason === "not-found" ? new NotFoundError("Patient", id) : new PreconditionFailedError("Patient", id);
  }
  return c.json(toPatient(result.row), 200, { ETag: etagOf(result.row.version) });
};

/** 429: the patient changed their own member id `limit` times in the last 24 hours already. */
function memberIdChangesExhausted(limit: number, retryAfterSeconds: number): ApiError {
  const err = new ApiError(
    "too-many-requests",
    `A patient may change their own insurance member id ${limit} times in 24 hours; retry after ${retryAfterSeconds} s`,
    [
      {
        field: "insuranceMemberId",
        in: "body",
        message: `changed ${limit} times in the last 24 hours, the most allowed (INSURANCE_MEMBER_ID_CHANGES_PER_DAY)`,
      },
    ],
  );
  err.retryAfterSeconds = retryAfterSeconds;
  return err;
}
