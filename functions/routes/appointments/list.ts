import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { listAppointments } from "../../../db/queries/appointments.ts";
import { scoped } from "../../auth/policy.ts";
import type { AppEnv } from "../../env.ts";
import { commonErrors, jsonResponse } from "../../http/openapi.ts";
import { InstantCursor, decodeCursor, paginate } from "../../http/pagination.ts";
import { AppointmentPage, ListAppointmentsQuery, toAppointment } from "./schemas.ts";

const tags = ["appointments"];

export const route = createRoute({
  method: "get",
  path: "/",
  tags,
  operationId: "listAppointments",
  summary: "List appointments",
  description: "By doctor, patient, status and start time window, ordered by start time.",
  request: { query: ListAppointmentsQuery },
  responses: { 200: jsonResponse(AppointmentPage, "One page of appointments"), ...commonErrors },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const q = c.req.valid("query");
  const after = decodeCursor(q.cursor, InstantCursor);
  // A patient or doctor lists their own, whatever the query says; asking for someone else's is an empty page.
  const parties = scoped(c, { doctorId: q.doctorId, patientId: q.patientId });
  if (!parties) return c.json({ data: [], nextCursor: null }, 200);
  const rows = await listAppointments(c.var.requestDb, c.var.deadline, {
    ...parties,
    status: q.status,
    from: q.from ? new Date(q.from) : undefined,
    to: q.to ? new Date(q.to) : undefined,
    after: after ? [new Date(after[0]), after[1]] : undefined,
    limit: q.limit,
  });
  return c.json(
    paginate(rows, q.limit, (a) => [a.startsAt.toISOString(), a.id] as const, toAppointment),
    200,
  );
};
