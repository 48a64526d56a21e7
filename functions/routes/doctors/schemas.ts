import { z } from "@hono/zod-openapi";
import type { DoctorRow } from "../../../db/schema/index.ts";
import { AppointmentSchema, toAppointment } from "../appointments/schemas.ts";
import { DAY_MS, iso } from "../../../core/dates.ts";
import type { DoctorWithAppointments } from "../../../db/queries/doctors.ts";
import { CursorQuery, Instant, LimitQuery, page, text } from "../../http/openapi.ts";

const Name = text(200);
const Specialty = text(100);

export const DoctorSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    specialty: z.string(),
    active: z.boolean(),
    version: z.number().int().openapi({ description: "Raised by every change; the ETag is this number in quotes" }),
    createdAt: z.string().openapi({ format: "date-time" }),
    updatedAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("Doctor");

export const DoctorWithAppointmentsSchema = DoctorSchema.extend({
  appointments: z.array(AppointmentSchema).optional().openapi({
    description: "Only with include=appointments: the doctor's appointments starting in [from, to)",
  }),
}).openapi("DoctorWithAppointments");

export type Doctor = z.infer<typeof DoctorSchema>;

export function toDoctor(row: DoctorRow): Doctor {
  return {
    id: row.id,
    name: row.name,
    specialty: row.specialty,
    active: row.active,
    version: row.version,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function toDoctorWithAppointments(row: DoctorWithAppointments) {
  return { ...toDoctor(row), appointments: row.appointments.map(toAppointment) };
}

export const CreateDoctorSchema = z
  .object({ name: Name, specialty: Specialty, active: z.boolean().optional() })
  .strict()
  .openapi("CreateDoctor", { example: { name: "Dr. Ana Lima", specialty: "cardiology" } });

export const UpdateDoctorSchema = z
  .object({ name: Name.optional(), specialty: Specialty.optional(), active: z.boolean().optional() })
  .strict()
  .refine((v) => Object.keys(v).length > 0, { message: "give at least one of name, specialty, active" })
  .openapi("UpdateDoctor", { example: { specialty: "neurology" } });

/** Longest window include=appointments accepts, so one page stays bounded. */
export const MAX_INCLUDE_WINDOW_DAYS = 93;

export const ListDoctorsQuery = z
  .object({
    specialty: Specialty.optional(),
    active: z.stringbool().optional().openapi({ type: "boolean" }),
    limit: LimitQuery,
    cursor: CursorQuery,
    include: z.enum(["appointments"]).optional().openapi({
      description: "appointments: embed each doctor's appointments in [from, to) (one SQL query per page)",
    }),
    from: Instant.optional(),
    to: Instant.optional(),
  })
  .superRefine((q, ctx) => {
    if (q.include !== "appointments") {
      if (q.from || q.to)
        ctx.addIssue({ code: "custom", path: [q.from ? "from" : "to"], message: "only with include=appointments" });
      return;
    }
    if (!q.from) ctx.addIssue({ code: "custom", path: ["from"], message: "required with include=appointments" });
    if (!q.to) ctx.addIssue({ code: "custom", path: ["to"], message: "required with include=appointments" });
    if (q.from && q.to) {
      const span = Date.parse(q.to) - Date.parse(q.from);
      if (span <= 0) ctx.addIssue({ code: "custom", path: ["to"], message: "must be after from" });
      else if (span > MAX_INCLUDE_WINDOW_DAYS * DAY_MS) {
        ctx.addIssue({ code: "custom", path: ["to"], message: `window is at most ${MAX_INCLUDE_WINDOW_DAYS} days` });
      }
    }
  });

export const DoctorPage = page(DoctorWithAppointmentsSchema, "DoctorPage");
