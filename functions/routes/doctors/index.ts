import { createRoute } from "@hono/zod-openapi";
import {
  insertDoctor, listDoctors, listDoctorsWithAppointments, updateDoctor,
} from "../../../db/queries/doctors.ts";
import type { DoctorRow } from "../../../db/schema/index.ts";
import type { Updated } from "../../../db/queries/versions.ts";
import { NotFoundError, PreconditionFailedError } from "../../http/errors.ts";
import { Idempotency } from "../../http/idempotency.ts";
import {
  IdParam, IdempotencyHeaders, IfMatchHeaders, bodyErrors, commonErrors, idempotencyErrors, jsonBody, jsonResponse, notFound,
  preconditionErrors, resourceApp, staleVersion, versionedResponse,
} from "../../http/openapi.ts";
import { etagOf, ifMatchOf, requireIfMatch } from "../../http/preconditions.ts";
import { NameCursor, decodeCursor, paginate } from "../../http/pagination.ts";
import { coalesced, invalidateDoctor } from "../../resilience/coalescer/client.ts";
import {
  CreateDoctorSchema, DoctorPage, type Doctor, DoctorSchema, ListDoctorsQuery, UpdateDoctorSchema,
  toDoctor, toDoctorWithAppointments,
} from "./schemas.ts";

const tags = ["doctors"];

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Register a doctor",
  request: { headers: IdempotencyHeaders, body: jsonBody(CreateDoctorSchema) },
  responses: {
    201: versionedResponse(DoctorSchema, "The new doctor"),
    ...commonErrors,
    ...idempotencyErrors,
    ...bodyErrors,
  },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  summary: "List doctors",
  description:
    "Filters by specialty and active flag, ordered by name. With include=appointments&from=&to= each doctor " +
    "carries its appointments in the window, fetched in the same single SQL statement as the doctors.",
  request: { query: ListDoctorsQuery },
  responses: { 200: jsonResponse(DoctorPage, "One page of doctors"), ...commonErrors },
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a doctor",
  description: "Served through the doctor's coalescer (see /doctors/{id}/availability).",
  request: { params: IdParam },
  responses: { 200: versionedResponse(DoctorSchema, "The doctor"), ...commonErrors, ...notFound },
});

const update = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Change a doctor's name, specialty or active flag",
  description: "Requires If-Match with the doctor's ETag: a change made meanwhile by someone else is never overwritten (412).",
  request: { params: IdParam, headers: IfMatchHeaders, body: jsonBody(UpdateDoctorSchema) },
  responses: {
    200: versionedResponse(DoctorSchema, "The updated doctor"),
    ...commonErrors,
    ...notFound,
    ...preconditionErrors,
    ...bodyErrors,
  },
});

const deactivate = createRoute({
  method: "post",
  path: "/{id}/deactivate",
  tags,
  summary: "Deactivate a doctor",
  description:
    "The doctor stays listed (active=false) with their history; new bookings are refused. " +
    "If-Match is optional here (deactivating twice changes nothing); when sent, it must match (412).",
  request: { params: IdParam, headers: IfMatchHeaders },
  responses: {
    200: versionedResponse(DoctorSchema, "The deactivated doctor"),
    ...commonErrors,
    ...notFound,
    ...staleVersion,
  },
});

/** The updated doctor, or the error saying why there is none. */
function updatedDoctor(id: string, result: Updated<DoctorRow>): DoctorRow {
  if (result.ok) return result.row;
  throw result.reason === "not-found" ? new NotFoundError("Doctor", id) : new PreconditionFailedError("Doctor", id);
}

export const doctorsApp = resourceApp()
  .openapi(create, async (c) => {
    const input = c.req.valid("json");
    const once = await Idempotency.begin<Doctor, 201>(c, "POST /doctors", input);
    if (once.replay) return once.replay;
    return once.create(async (db) => {
      const row = await insertDoctor(db, c.var.deadline, input);
      return { status: 201, body: toDoctor(row), headers: { Location: `/doctors/${row.id}`, ETag: etagOf(row.version) } };
    });
  })
  .openapi(list, async (c) => {
    const q = c.req.valid("query");
    const filter = {
      specialty: q.specialty,
      active: q.active,
      limit: q.limit,
      after: decodeCursor(q.cursor, NameCursor),
    };
    const key = (d: { name: string; id: string }) => [d.name, d.id] as const;
    if (q.include === "appointments" && q.from && q.to) {
      const window = { from: new Date(q.from), to: new Date(q.to) };
      const rows = await listDoctorsWithAppointments(c.var.requestDb, c.var.deadline, filter, window);
      return c.json(paginate(rows, q.limit, key, toDoctorWithAppointments), 200);
    }
    const rows = await listDoctors(c.var.requestDb, c.var.deadline, filter);
    return c.json(paginate(rows, q.limit, key, toDoctor), 200);
  })
  .openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const doctor = await coalesced(c, { loader: "doctor", doctorId: id });
    if (!doctor) throw new NotFoundError("Doctor", id);
    return c.json(doctor, 200, { ETag: etagOf(doctor.version) });
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const precondition = requireIfMatch(c, "doctor");
    const row = updatedDoctor(id, await updateDoctor(c.var.requestDb, c.var.deadline, id, c.req.valid("json"), precondition));
    await invalidateDoctor(c, id);
    return c.json(toDoctor(row), 200, { ETag: etagOf(row.version) });
  })
  .openapi(deactivate, async (c) => {
    const { id } = c.req.valid("param");
    const result = await updateDoctor(c.var.requestDb, c.var.deadline, id, { active: false }, ifMatchOf(c));
    const row = updatedDoctor(id, result);
    await invalidateDoctor(c, id);
    return c.json(toDoctor(row), 200, { ETag: etagOf(row.version) });
  });
