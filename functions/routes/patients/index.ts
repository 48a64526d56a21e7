import { createRoute } from "@hono/zod-openapi";
import { findPatient, insertPatient, listPatients, updatePatient } from "../../../db/queries/patients.ts";
import { NotFoundError, PreconditionFailedError } from "../../http/errors.ts";
import { Idempotency } from "../../http/idempotency.ts";
import {
  IdParam, IdempotencyHeaders, IfMatchHeaders, bodyErrors, commonErrors, conflict, idempotencyErrors, jsonBody, jsonResponse,
  notFound, preconditionErrors, resourceApp, versionedResponse,
} from "../../http/openapi.ts";
import { etagOf, requireIfMatch } from "../../http/preconditions.ts";
import { NameCursor, decodeCursor, paginate } from "../../http/pagination.ts";
import {
  CreatePatientSchema, ListPatientsQuery, PatientPage, PatientSchema, UpdatePatientSchema, toPatient, type Patient,
} from "./schemas.ts";

const tags = ["patients"];

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Register a patient",
  request: { headers: IdempotencyHeaders, body: jsonBody(CreatePatientSchema) },
  responses: {
    201: versionedResponse(PatientSchema, "The new patient"),
    ...commonErrors,
    ...idempotencyErrors,
    ...bodyErrors,
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List patients",
  description: "Ordered by name; `email` finds one patient by exact, case-insensitive email.",
  request: { query: ListPatientsQuery },
  responses: { 200: jsonResponse(PatientPage, "One page of patients"), ...commonErrors },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a patient",
  request: { params: IdParam },
  responses: { 200: versionedResponse(PatientSchema, "The patient"), ...commonErrors, ...notFound },
});

const update = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Change a patient's details",
  description: "Requires If-Match with the patient's ETag: a change made meanwhile by someone else is never overwritten (412).",
  request: { params: IdParam, headers: IfMatchHeaders, body: jsonBody(UpdatePatientSchema) },
  responses: {
    200: versionedResponse(PatientSchema, "The updated patient"),
    ...commonErrors,
    ...notFound,
    ...conflict,
    ...preconditionErrors,
    ...bodyErrors,
  },
});

export const patientsApp = resourceApp()
  .openapi(create, async (c) => {
    const input = c.req.valid("json");
    const once = await Idempotency.begin<Patient, 201>(c, "POST /patients", input);
    if (once.replay) return once.replay;
    return once.create(async (db) => {
      const row = await insertPatient(db, c.var.deadline, input);
      return { status: 201, body: toPatient(row), headers: { Location: `/patients/${row.id}`, ETag: etagOf(row.version) } };
    });
  })
  .openapi(list, async (c) => {
    const q = c.req.valid("query");
    const rows = await listPatients(c.var.requestDb, c.var.deadline, { email: q.email, limit: q.limit, after: decodeCursor(q.cursor, NameCursor) });
    return c.json(paginate(rows, q.limit, (p) => [p.name, p.id] as const, toPatient), 200);
  })
  .openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const row = await findPatient(c.var.requestDb, c.var.deadline, id);
    if (!row) throw new NotFoundError("Patient", id);
    return c.json(toPatient(row), 200, { ETag: etagOf(row.version) });
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const precondition = requireIfMatch(c, "patient");
    const result = await updatePatient(c.var.requestDb, c.var.deadline, id, c.req.valid("json"), precondition);
    if (!result.ok) throw result.reason === "not-found" ? new NotFoundError("Patient", id) : new PreconditionFailedError("Patient", id);
    return c.json(toPatient(result.row), 200, { ETag: etagOf(result.row.version) });
  });
