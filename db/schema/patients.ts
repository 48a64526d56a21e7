import { sql } from "drizzle-orm";
import { date, index, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { id, timestamps, version } from "./columns.ts";

export const patients = pgTable(
  "patients",
  {
    id: id(),
    name: text("name").notNull(),
    // Stored as given; uniqueness is case-insensitive so "Ana@x.com" and "ana@x.com" are one patient.
    email: text("email").notNull(),
    phone: text("phone"),
    birthDate: date("birth_date", { mode: "string" }).notNull(),
    // The patient's id at their insurer; null: uninsured or not given (no eligibility checks).
    insuranceMemberId: text("insurance_member_id"),
    ...timestamps(),
    ...version(),
  },
  (t) => [
    uniqueIndex("patients_email_lower_key").on(sql`lower(${t.email})`),
    // One patient per member id: another patient's would let its holder look up their coverage.
    uniqueIndex("patients_insurance_member_id_key")
      .on(t.insuranceMemberId)
      .where(sql`${t.insuranceMemberId} is not null`),
    index("patients_name_id_idx").on(t.name, t.id),
  ],
);

export type PatientRow = typeof patients.$inferSelect;
