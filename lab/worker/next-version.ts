/**
 * The schema-change incident's "next version" of the doctors routes: the same operations, requests
 * and answers as clinic-edge's `GET /doctors` and `PATCH /doctors/{id}`, but reading and writing the
 * column the migration introduces, `speciality`, where the shipped version has `specialty`. The lab
 * mounts them at /__lab/v2/doctors and sends the next version's traffic there, on a workerd of its
 * own beside the shipped version's (lab/incidents/schema-change.ts).
 */
import { type RouteHandler } from "@hono/zod-openapi";
import { and, asc, eq, sql } from "drizzle-orm";
import { boolean, pgTable, text } from "drizzle-orm/pg-core";
import { Hono } from "hono";
import { versionIs } from "../../db/queries/versions.ts";
import { id, timestamps, version } from "../../db/schema/columns.ts";
import type { AppEnv } from "../../functions/env.ts";
import { NotFoundError, PreconditionFailedError, ValidationError } from "../../functions/http/errors.ts";
import { resourceApp } from "../../functions/http/openapi.ts";
import { NameCursor, decodeCursor, paginate } from "../../functions/http/pagination.ts";
import { etagOf, requireIfMatch } from "../../functions/http/preconditions.ts";
import { invalidateDoctor } from "../../functions/resilience/coalescer/client.ts";
import * as list from "../../functions/routes/doctors/list.ts";
import { toDoctor } from "../../functions/routes/doctors/schemas.ts";
import * as update from "../../functions/routes/doctors/update.ts";

/** doctors as the next version's schema has it. */
const doctorsNext = pgTable("doctors", {
  id: id(),
  name: text("name").notNull(),
  speciality: text("speciality").notNull(),
  active: boolean("active").notNull().default(true),
  ...timestamps(),
  ...version(),
});

type DoctorNextRow = typeof doctorsNext.$inferSelect;

/** The same answer as the shipped version's: the API still says `specialty`. */
function toDoctorNext({ speciality, ...row }: DoctorNextRow) {
  return toDoctor({ ...row, specialty: speciality });
}

const listHandler: RouteHandler<typeof list.route, AppEnv> = async (c) => {
  const q = c.req.valid("query");
  if (q.include !== undefined)
    throw new ValidationError([
      { field: "include", in: "query", message: "the lab's next version lists doctors only" },
    ]);
  const after = decodeCursor(q.cursor, NameCursor);
  const rows = await c.var.requestDb.query(c.var.deadline, (db) =>
    db
      .select()
      .from(doctorsNext)
      .where(
        and(
          q.specialty !== undefined ? eq(doctorsNext.speciality, q.specialty) : undefined,
          q.active !== undefined ? eq(doctorsNext.active, q.active) : undefined,
          after ? sql`(${doctorsNext.name}, ${doctorsNext.id}) > (${after[0]}, ${after[1]}::uuid)` : undefined,
        ),
      )
      .orderBy(asc(doctorsNext.name), asc(doctorsNext.id))
      .limit(q.limit + 1),
  );
  return c.json(
    paginate(rows, q.limit, (d) => [d.name, d.id] as const, toDoctorNext),
    200,
  );
};

const updateHandler: RouteHandler<typeof update.route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const precondition = requireIfMatch(c, "doctor");
  const { specialty, ...rest } = c.req.valid("json");
  const changes = { ...rest, ...(specialty === undefined ? {} : { speciality: specialty }) };
  const [[updated], [current]] = await c.var.requestDb.batch(
    c.var.deadline,
    (db) =>
      [
        db
          .update(doctorsNext)
          .set(changes)
          .where(and(eq(doctorsNext.id, id), versionIs(doctorsNext.version, precondition)))
          .returning(),
        db.select({ id: doctorsNext.id }).from(doctorsNext).where(eq(doctorsNext.id, id)),
      ] as const,
  );
  if (!updated) throw current ? new PreconditionFailedError("Doctor", id) : new NotFoundError("Doctor", id);
  await invalidateDoctor(c, id);
  return c.json(toDoctorNext(updated), 200, { ETag: etagOf(updated.version) });
};

/**
 * A plain Hono around the OpenAPI routes, so mounting it adds nothing to the lab Worker's
 * /openapi.json (the operation ids are the shipped routes').
 */
export const nextVersion = new Hono<AppEnv>().route(
  "/doctors",
  resourceApp().openapi(list.route, listHandler).openapi(update.route, updateHandler),
);
