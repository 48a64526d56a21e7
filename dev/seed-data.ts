/** A deterministic, realistic data set: dozens of doctors, hundreds of patients, thousands of appointments. */
import type { InferInsertModel } from "drizzle-orm";
import type { appointments, doctorSchedules, doctors, patients } from "../db/schema/index.ts";

type NewDoctor = InferInsertModel<typeof doctors> & { id: string };
type NewPatient = InferInsertModel<typeof patients> & { id: string };
type NewAppointment = InferInsertModel<typeof appointments>;
type NewSchedule = InferInsertModel<typeof doctorSchedules>;

export interface SeedData {
  doctors: NewDoctor[];
  schedules: NewSchedule[];
  patients: NewPatient[];
  appointments: NewAppointment[];
}

const SPECIALTIES = [
  "cardiology",
  "dermatology",
  "endocrinology",
  "family medicine",
  "gastroenterology",
  "neurology",
  "obstetrics",
  "ophthalmology",
  "orthopedics",
  "pediatrics",
  "psychiatry",
  "radiology",
];
const FIRST = [
  "Ana",
  "Bruno",
  "Carla",
  "Diego",
  "Elisa",
  "Felipe",
  "Gabriela",
  "Heitor",
  "Isabela",
  "João",
  "Karina",
  "Lucas",
  "Mariana",
  "Nicolas",
  "Olivia",
  "Pedro",
  "Rafaela",
  "Samuel",
  "Tatiana",
  "Vitor",
  "Yasmin",
  "Zeca",
];
const LAST = [
  "Almeida",
  "Barbosa",
  "Cardoso",
  "Costa",
  "Dias",
  "Ferreira",
  "Gomes",
  "Lima",
  "Martins",
  "Moreira",
  "Nunes",
  "Oliveira",
  "Pereira",
  "Ribeiro",
  "Rocha",
  "Santos",
  "Silva",
  "Souza",
  "Teixeira",
  "Vieira",
];

/** mulberry32: tiny seeded PRNG so every seed run produces the same clinic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Stable UUID-shaped ids derived from the PRNG (v4 layout), so reseeding yields the same ids. */
function uuidFrom(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = hex.join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export interface SeedOptions {
  doctors?: number;
  patients?: number;
  /** Days of history and of future bookings around `today`. */
  daysBack?: number;
  daysAhead?: number;
  /** Share of the 30-minute working slots (09:00-17:00 UTC, weekdays) that are booked. */
  occupancy?: number;
  today?: Date;
}

export function seedData(options: SeedOptions = {}): SeedData {
  const rand = prng(20261127);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const nDoctors = options.doctors ?? 40;
  const nPatients = options.patients ?? 400;
  const occupancy = options.occupancy ?? 0.25;
  const today = new Date(options.today ?? Date.now());
  today.setUTCHours(0, 0, 0, 0);

  const doctors: NewDoctor[] = Array.from({ length: nDoctors }, (_, i) => ({
    id: uuidFrom(rand),
    name: `Dr. ${pick(FIRST)} ${pick(LAST)}`,
    specialty: SPECIALTIES[i % SPECIALTIES.length]!,
    // A few retired doctors, so the `active` filter has something to filter.
    active: i % 13 !== 12,
  }));

  const patients: NewPatient[] = Array.from({ length: nPatients }, (_, i) => {
    const first = pick(FIRST);
    const last = pick(LAST);
    const year = 1940 + Math.floor(rand() * 80);
    const month = 1 + Math.floor(rand() * 12);
    const day = 1 + Math.floor(rand() * 28);
    return {
      id: uuidFrom(rand),
      name: `${first} ${last}`,
      email: `${first}.${last}.${i}@example.com`
        .normalize("NFD")
        .replace(/[\u0300-\u036f]/g, "")
        .toLowerCase(),
      phone: `+55 11 9${String(Math.floor(rand() * 1e8)).padStart(8, "0")}`,
      birthDate: `${year}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`,
    };
  });

  const appointments: NewAppointment[] = [];
  const daysBack = options.daysBack ?? 30;
  const daysAhead = options.daysAhead ?? 30;
  const now = Date.now();
  for (const doctor of doctors) {
    for (let d = -daysBack; d <= daysAhead; d++) {
      const day = new Date(today.getTime() + d * 86_400_000);
      const weekday = day.getUTCDay();
      if (weekday === 0 || weekday === 6) continue;
      for (let slot = 0; slot < 16; slot++) {
        if (rand() >= occupancy) continue;
        const startsAt = new Date(day.getTime() + (9 * 60 + slot * 30) * 60_000);
        const endsAt = new Date(startsAt.getTime() + 30 * 60_000);
        const past = endsAt.getTime() < now;
        const r = rand();
        const status = past ? (r < 0.85 ? "completed" : "cancelled") : r < 0.9 ? "scheduled" : "cancelled";
        appointments.push({ doctorId: doctor.id, patientId: pick(patients).id, startsAt, endsAt, status });
      }
    }
  }
  // The hours the appointments above were drawn from: weekdays 09:00-17:00 UTC, 30-minute slots.
  const schedules: NewSchedule[] = doctors.flatMap((d) =>
    [1, 2, 3, 4, 5].map((weekday) => ({
      doctorId: d.id,
      weekday,
      startsAt: "09:00",
      endsAt: "17:00",
      slotMinutes: 30,
    })),
  );
  return { doctors, schedules, patients, appointments };
}
