import { createRoute } from "@hono/zod-openapi";
import {
  insertDoctor, listDoctors, listDoctorsWithAppointments, updateDoctor,
} from "../../db/queries/doctors.ts";
import { NotFoundError } from "../errors.ts";
import {
  IdParam, bodyErrors, commonErrors, jsonBody, jsonResponse, notFound, resourceApp,
} from "../openapi.ts";
import { NameCursor, decodeCursor, paginate } from "../pagination.ts";
import { coalesced, invalidateDoctor } from "../resilience/coalesce.ts";
import {
  CreateDoctorSchema, DoctorPage, DoctorSchema, ListDoctorsQuery, UpdateDoctorSchema,
  toDoctor, toDoctorWithAppointments,
} from "./schemas.ts";

const tags = ["doctors"];

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  summary: "Register a doctor",
  request: { body: jsonBody(CreateDoctorSchema) },
  responses: { 201: jsonResponse(DoctorSchema, "The new doctor"), ...commonErrors, ...bodyErrors },
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
  responses: { 200: jsonResponse(DoctorSchema, "The doctor"), ...commonErrors, ...notFound },
});

const update = createRoute({
  method: "patch",
  path: "/{id}",
  tags,
  summary: "Change a doctor's name, specialty or active flag",
  request: { params: IdParam, body: jsonBody(UpdateDoctorSchema) },
  responses: { 200: jsonResponse(DoctorSchema, "The updated doctor"), ...commonErrors, ...notFound, ...bodyErrors },
});

const deactivate = createRoute({
  method: "post",
  path: "/{id}/deactivate",
  tags,
  summary: "Deactivate a doctor",
  description: "The doctor stays listed (active=false) with their history; new bookings are refused.",
  request: { params: IdParam },
  responses: { 200: jsonResponse(DoctorSchema, "The deactivated doctor"), ...commonErrors, ...notFound },
});

export const doctorsApp = resourceApp()
  .openapi(create, async (c) => {
    const row = await insertDoctor(c.var.requestDb, c.var.deadline, c.req.valid("json"));
    return c.json(toDoctor(row), 201, { Location: `/doctors/${row.id}` });
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
    return c.json(doctor, 200);
  })
  .openapi(update, async (c) => {
    const { id } = c.req.valid("param");
    const row = await updateDoctor(c.var.requestDb, c.var.deadline, id, c.req.valid("json"));
    if (!row) throw new NotFoundError("Doctor", id);
    await invalidateDoctor(c, id);
    return c.json(toDoctor(row), 200);
  })
  .openapi(deactivate, async (c) => {
    const { id } = c.req.valid("param");
    const row = await updateDoctor(c.var.requestDb, c.var.deadline, id, { active: false });
    if (!row) throw new NotFoundError("Doctor", id);
    await invalidateDoctor(c, id);
    return c.json(toDoctor(row), 200);
  });
