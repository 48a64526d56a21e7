import { z } from "@hono/zod-openapi";
import type { PatientRow } from "../../../db/schema/index.ts";
import { iso } from "../../../core/dates.ts";
import { CursorQuery, LimitQuery, page, text } from "../../http/openapi.ts";

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

/**
 * An insurer's member id as printed on the card: 4-32 letters, digits and hyphens, starting with a
 * letter or digit. Case does not matter to insurers; it is kept in upper case.
 */
const InsuranceMemberId = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z0-9][A-Z0-9-]{3,31}$/, "must be 4-32 letters, digits or hyphens, starting with a letter or digit")
  .openapi({ example: "ACME-12345678" });

export const PatientSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    email: z.string(),
    phone: z.string().nullable(),
    birthDate: z.string().openapi({ format: "date" }),
    insuranceMemberId: z.string().nullable().openapi({
      description:
        "The patient's member id at their insurer; null when uninsured. Bookings then ask the insurer about coverage.",
    }),
    version: z.number().int().openapi({ description: "Raised by every change; the ETag is this number in quotes" }),
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
    insuranceMemberId: row.insuranceMemberId,
    version: row.version,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export const CreatePatientSchema = z
  .object({
    name: Name,
    email: Email,
    phone: Phone.nullable().optional(),
    birthDate: BirthDate,
    insuranceMemberId: InsuranceMemberId.nullable().optional(),
  })
  .strict()
  .openapi("CreatePatient", {
    example: {
      name: "Maria Souza",
      email: "maria@example.com",
      phone: "+55 11 91234-5678",
      birthDate: "1985-04-12",
      insuranceMemberId: "ACME-12345678",
    },
  });

export const UpdatePatientSchema = z
  .object({
    name: Name.optional(),
    email: Email.optional(),
    phone: Phone.nullable().optional(),
    birthDate: BirthDate.optional(),
    insuranceMemberId: InsuranceMemberId.nullable().optional(),
  })
  .strict()
  .refine((v) => Object.keys(v).length > 0, {
    message: "give at least one of name, email, phone, birthDate, insuranceMemberId",
  })
  .openapi("UpdatePatient", { example: { phone: "+55 11 99876-5432" } });

export const ListPatientsQuery = z.object({
  email: text(254).optional().openapi({ description: "Exact email, case-insensitive" }),
  limit: LimitQuery,
  cursor: CursorQuery,
});

export const PatientPage = page(PatientSchema, "PatientPage");
