import { expect } from "vitest";
import { api, expectOk } from "./client.ts";

export interface Doctor {
  id: string;
  name: string;
  specialty: string;
  active: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
  appointments?: Appointment[];
}

export interface Patient {
  id: string;
  name: string;
  email: string;
  phone: string | null;
  birthDate: string;
  insuranceMemberId: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Appointment {
  id: string;
  doctorId: string;
  patientId: string;
  startsAt: string;
  endsAt: string;
  status: "scheduled" | "cancelled" | "completed";
  eligibility: "covered" | "not_covered" | "unknown" | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** POST /appointments answers the appointment plus why its eligibility is unknown, if it is. */
export interface BookedAppointment extends Appointment {
  eligibilityReason: "breaker-open" | "upstream-failed" | "upstream-timeout" | "not-configured" | null;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** A name unique to this test run, so tests sharing the database never see each other's rows. */
export function unique(prefix: string): string {
  return `${prefix} ${crypto.randomUUID().slice(0, 8)}`;
}

/** A specialty no other test uses: lists filtered by it contain only this test's doctors. */
export function uniqueSpecialty(): string {
  return unique("specialty");
}

export async function createDoctor(
  overrides: Partial<Pick<Doctor, "name" | "specialty" | "active">> = {},
): Promise<Doctor> {
  return expectOk(
    await api.POST("/doctors", { body: { name: unique("Dr."), specialty: "cardiology", ...overrides } }),
    201,
  );
}

export async function createPatient(
  overrides: Partial<Pick<Patient, "name" | "email" | "phone" | "birthDate" | "insuranceMemberId">> = {},
): Promise<Patient> {
  const email = `${crypto.randomUUID()}@example.com`;
  return expectOk(
    await api.POST("/patients", { body: { name: unique("Patient"), email, birthDate: "1980-05-17", ...overrides } }),
    201,
  );
}

/** A whole-hour slot `daysAhead` days from now, `minutes` long. */
export function slot(daysAhead: number, hour = 10, minutes = 30): { startsAt: string; endsAt: string } {
  const start = new Date();
  start.setUTCDate(start.getUTCDate() + daysAhead);
  start.setUTCHours(hour, 0, 0, 0);
  const end = new Date(start.getTime() + minutes * 60_000);
  return { startsAt: start.toISOString(), endsAt: end.toISOString() };
}

/** Books and returns the appointment as GET /appointments/:id shows it (without the booking's eligibilityReason). */
export async function book(
  doctorId: string,
  patientId: string,
  when: { startsAt: string; endsAt: string },
): Promise<Appointment> {
  const booked = await api.POST("/appointments", { body: { doctorId, patientId, ...when } });
  const { eligibilityReason, ...appointment } = expectOk(booked, 201);
  expect(appointment.status).toBe("scheduled");
  expect(eligibilityReason === null || appointment.eligibility === "unknown").toBe(true);
  return appointment;
}

/** A weekday-independent schedule: every day 09:00-12:00 UTC in 30-minute slots (6 slots). */
export const EVERY_MORNING = {
  intervals: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, startsAt: "09:00", endsAt: "12:00" })),
};

/** A doctor who works every morning, so any day has availability. */
export async function doctorWithSchedule(): Promise<Doctor> {
  const doctor = await createDoctor();
  expectOk(await api.PUT("/doctors/{id}/schedule", { params: { path: { id: doctor.id } }, body: EVERY_MORNING }), 200);
  return doctor;
}
