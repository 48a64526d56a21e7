import { z } from "@hono/zod-openapi";
import type { PatientRow } from "../../db/schema/index.ts";
import { iso } from "../dates.ts";
import { CursorQuery, LimitQuery, page, text } from "../openapi.ts";

const Name = text(200);
const Email = text(254).pipe(z.email());
const Phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9][0-9 ().-]{5,24}$/, "must be a phone number such as +55 11 91234-5678");
const BirthDate = z.iso
  .date()
  .refine((d) => d >= "1900-01-01", "must be on or after 1900-01-01")
  .refine((d) => d <= new Date().toISOString().slice(0, 10), "must not be in the future")
  .openapi({ example: "1985-04-12" });

export const PatientSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    email: z.string(),
    phone: z.string().nullable(),
    birthDate: z.string().openapi({ format: "date" }),
    createdAt: z.string().openapi({ format: "date-time" }),
    updatedAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("Patient");

export type Patient = z.infer<typeof PatientSchema>;

export function toPatient(row: PatientRow): Patient {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    phone: row.phone,
    birthDate: row.birthDate,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export const CreatePatientSchema = z
  .object({ name: Name, email: Email, phone: Phone.nullable().optional(), birthDate: BirthDate })
  .strict()
  .openapi("CreatePatient", {
    example: { name: "Maria Souza", email: "maria@example.com", phone: "+55 11 91234-5678", birthDate: "1985-04-12" },
  });

export const UpdatePatientSchema = z
  .object({ name: Name.optional(), email: Email.optional(), phone: Phone.nullable().optional(), birthDate: BirthDate.optional() })
  .strict()
  .refine((v) => Object.keys(v).length > 0, { message: "give at least one of name, email, phone, birthDate" })
  .openapi("UpdatePatient", { example: { phone: "+55 11 99876-5432" } });

export const ListPatientsQuery = z.object({
  email: text(254).optional().openapi({ description: "Exact email, case-insensitive" }),
  limit: LimitQuery,
  cursor: CursorQuery,
});

export const PatientPage = page(PatientSchema, "PatientPage");
