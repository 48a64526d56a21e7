import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { listDoctors, listDoctorsWithAppointments } from "../../../db/queries/doctors.ts";
import type { AppEnv } from "../../env.ts";
import { commonErrors, jsonResponse } from "../../http/openapi.ts";
import { NameCursor, decodeCursor, paginate } from "../../http/pagination.ts";
import { DoctorPage, ListDoctorsQuery, toDoctor, toDoctorWithAppointments } from "./schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "get",
  path: "/",
  tags,
  operationId: "listDoctors",
  summary: "List doctors",
  description:
    "Filters by specialty and active flag, ordered by name. With include=appointments&from=&to= each doctor " +
    "carries its appointments in the window, fetched in the same single SQL statement as the doctors.",
  request: { query: ListDoctorsQuery },
  responses: { 200: jsonResponse(DoctorPage, "One page of doctors"), ...commonErrors },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
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
};
