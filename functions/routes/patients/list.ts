import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { listPatients } from "../../../db/queries/patients.ts";
import type { AppEnv } from "../../env.ts";
import { commonErrors, jsonResponse } from "../../http/openapi.ts";
import { NameCursor, decodeCursor, paginate } from "../../http/pagination.ts";
import { ListPatientsQuery, PatientPage, toPatient } from "./schemas.ts";

const tags = ["patients"];

export const route = createRoute({
  method: "get",
  path: "/",
  tags,
  operationId: "listPatients",
  summary: "List patients",
  description: "Ordered by name; `email` finds one patient by exact, case-insensitive email.",
  request: { query: ListPatientsQuery },
  responses: { 200: jsonResponse(PatientPage, "One page of patients"), ...commonErrors },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const q = c.req.valid("query");
  const rows = await listPatients(c.var.requestDb, c.var.deadline, {
    email: q.email,
    limit: q.limit,
    after: decodeCursor(q.cursor, NameCursor),
  });
  return c.json(
    paginate(rows, q.limit, (p) => [p.name, p.id] as const, toPatient),
    200,
  );
};
