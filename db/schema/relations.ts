import { relations } from "drizzle-orm";
import { appointments } from "./appointments.ts";
import { doctors } from "./doctors.ts";
import { patients } from "./patients.ts";
import { doctorSchedules } from "./schedules.ts";

export const doctorsRelations = relations(doctors, ({ many }) => ({
  appointments: many(appointments),
  schedule: many(doctorSchedules),
}));
export const doctorSchedulesRelations = relations(doctorSchedules, ({ one }) => ({
  doctor: one(doctors, { fields: [doctorSchedules.doctorId], references: [doctors.id] }),
}));
export const patientsRelations = relations(patients, ({ many }) => ({ appointments: many(appointments) }));
export const appointmentsRelations = relations(appointments, ({ one }) => ({
  doctor: one(doctors, { fields: [appointments.doctorId], references: [doctors.id] }),
  patient: one(patients, { fields: [appointments.patientId], references: [patients.id] }),
}));
