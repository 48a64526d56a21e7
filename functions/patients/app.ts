import { createRoute } from "@hono/zod-openapi";
import { findPatient, insertPatient, listPatients, updatePatient } from "../../db/queries/patients.ts";
import { NotFoundError } from "../errors.ts";
import {
  IdParam, bodyErrors, commonErrors, conflict, jsonBody, jsonResponse, notFound, resourceApp,
} from "../openapi.ts";
import { NameCursor, decodeCursor, paginate } from "../pagination.ts";
import {
  CreatePatientSchema, ListPatientsQuery, PatientPage, PatientSchema, UpdatePatientSchema, toPatient,
} from "./schemas.ts";

const tags = ["patients"];

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Register a patient",
  request: { body: jsonBody(CreatePatientSchema) },
  responses: {
    201: jsonResponse(PatientSchema, "The new patient"),
    ...commonErrors,
    ...conflict,
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
  responses: { 200: jsonResponse(PatientSchema, "The patient"), ...commonErrors, ...notFound },
});

const update = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Change a patient's details",
  request: { params: IdParam, body: jsonBody(UpdatePatientSchema) },
  responses: {
    200: jsonResponse(PatientSchema, "The updated patient"),
    ...commonErrors,
    ...notFound,
    ...conflict,
    ...bodyErrors,
  },
});

export const patientsApp = resourceApp()
  .openapi(create, async (c) => {
    const row = await insertPatient(c.var.requestDb, c.var.deadline, c.req.valid("json"));
    return c.json(toPatient(row), 201, { Location: `/patients/${row.id}` });
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
    return c.json(toPatient(row), 200);
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const row = await updatePatient(c.var.requestDb, c.var.deadline, id, c.req.valid("json"));
    if (!row) throw new NotFoundError("Patient", id);
    return c.json(toPatient(row), 200);
  });
