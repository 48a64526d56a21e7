import { sql } from "drizzle-orm";
import { check, index, pgEnum, pgTable, timestamp, uuid } from "drizzle-orm/pg-core";
import { id, timestamps, version } from "./columns.ts";
import { doctors } from "./doctors.ts";
import { patients } from "./patients.ts";

export const appointmentStatus = pgEnum("appointment_status", ["scheduled", "cancelled", "completed"]);

/** The insurer's answer at booking time; `unknown` when it could not be asked (breaker open, failure). */
export const eligibility = pgEnum("eligibility", ["covered", "not_covered", "unknown"]);

/**
 * The overlap rule (no two non-cancelled appointments of one doctor may overlap) is an exclusion
 * constraint, `appointments_no_overlap`, created in a custom migration: drizzle-kit cannot express
 * EXCLUDE. It also serves as the (doctor_id, time range) index.
 */
export const appointments = pgTable(
  "appointments",
  {
    id: id(),
    doctorId: uuid("doctor_id")
      .notNull()
      .references(() => doctors.id, { onDelete: "restrict" }),
    patientId: uuid("patient_id")
      .notNull()
      .references(() => patients.id, { onDelete: "restrict" }),
    startsAt: timestamp("starts_at", { withTimezone: true, mode: "date" }).notNull(),
    endsAt: timestamp("ends_at", { withTimezone: true, mode: "date" }).notNull(),
    status: appointmentStatus("status").notNull().default("scheduled"),
    // Null when the patient had no insurance member id at booking time: nothing was asked.
    eligibility: eligibility("eligibility"),
    ...timestamps(),
    ...version(),
  },
  (t) => [
    check("appointments_ends_after_starts", sql`${t.endsAt} > ${t.startsAt}`),
    index("appointments_doctor_starts_idx").on(t.doctorId, t.startsAt, t.id),
    index("appointments_patient_starts_idx").on(t.patientId, t.startsAt, t.id),
    index("appointments_starts_idx").on(t.startsAt, t.id),
  ],
);

export type AppointmentRow = typeof appointments.$inferSelect;
export type AppointmentStatus = (typeof appointmentStatus.enumValues)[number];
export type Eligibility = (typeof eligibility.enumValues)[number];
