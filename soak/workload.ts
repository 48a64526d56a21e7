/**
 * The soak's callers, seeded through the API first: hot doctors (with working hours, most of the
 * traffic) and cold ones, patients (some insured, so bookings ask the insurer). Then operations
 * arrive at a fixed rate whatever the answers (open loop): patients book, reschedule and cancel
 * (Idempotency-Key on bookings), doctors read their day and complete begun visits, anonymous
 * callers read availability, admins register patients and edit doctors and patients with If-Match.
 * What the callers were told is kept in a model of the world the next operations draw from.
 */
import { adminToken } from "../bench/lib/auth.ts";
import { type Call, type ClientContext, type Outcome, send } from "./client.ts";
import type { Random } from "./random.ts";

export const OPERATION_KINDS = [
  "book",
  "book-soon",
  "reschedule",
  "cancel",
  "doctor-day",
  "complete",
  "availability",
  "create-patient",
  "edit-doctor",
  "edit-patient",
] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** Share of the arrivals per operation (sums to 1). */
const MIX: ReadonlyArray<readonly [OperationKind, number]> = [
  ["book", 0.26],
  ["book-soon", 0.04],
  ["reschedule", 0.08],
  ["cancel", 0.07],
  ["doctor-day", 0.12],
  ["complete", 0.05],
  ["availability", 0.25],
  ["create-patient", 0.03],
  ["edit-doctor", 0.05],
  ["edit-patient", 0.05],
];

const HOT_DOCTORS = 3;
const COLD_DOCTORS = 9;
const PATIENTS = 40;
/** Hot doctors work every day 06:00–22:00 UTC; bookings land there, on a day 1–60 days ahead. */
const WORK_HOURS = { startsAt: "06:00", endsAt: "22:00" } as const;
const DAYS_AHEAD = 60;

interface Person {
  id: string;
  token: string;
}
interface Appointment {
  id: string;
  doctorId: string;
  patientId: string;
  startsAt: string;
  version: number;
  status: string;
}

export interface World {
  admin: string;
  hot: Person[];
  cold: Person[];
  patients: Person[];
  appointments: Map<string, Appointment>;
}

const uuid = (r: Random): string => {
  const hex = Array.from({ length: 32 }, () => r.int(0, 15).toString(16)).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

const asRecord = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null ? (v as never) : {});

/** Seeds the cast through the API as an admin; throws when a seeding call does not succeed. */
export async function seedWorld(ctx: ClientContext, random: Random, nextOp: () => number): Promise<World> {
  const admin = await adminToken({ sub: "soak-admin" });
  const created = async (call: Omit<Call, "op" | "token">): Promise<string> => {
    const out = await send(ctx, { ...call, op: nextOp(), token: admin });
    const id = asRecord(out.json).id;
    if (!out.status || out.status >= 300 || typeof id !== "string")
      throw new Error(`seeding ${call.method} ${call.path} answered ${out.status ?? "nothing"}`);
    return id;
  };
  const doctor = async (hot: boolean, i: number): Promise<Person> => {
    const id = await created({
      kind: "seed",
      method: "POST",
      path: "/doctors",
      body: { name: `Dr. Soak ${hot ? "Hot" : "Cold"} ${i}`, specialty: hot ? "cardiology" : "dermatology" },
      headers: { "idempotency-key": uuid(random) },
    });
    if (hot) {
      const out = await send(ctx, {
        op: nextOp(),
        kind: "seed",
        method: "PUT",
        path: `/doctors/${id}/schedule`,
        token: admin,
        body: { intervals: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, ...WORK_HOURS, slotMinutes: 30 })) },
      });
      if (out.status !== 200) throw new Error(`seeding a schedule answered ${out.status ?? "nothing"}`);
    }
    return { id, token: await adminToken({ role: "doctor", sub: id }) };
  };
  const hot = await Promise.all(Array.from({ length: HOT_DOCTORS }, (_, i) => doctor(true, i)));
  const cold = await Promise.all(Array.from({ length: COLD_DOCTORS }, (_, i) => doctor(false, i)));
  const patients: Person[] = [];
  for (let i = 0; i < PATIENTS; i++) {
    const id = await created({
      kind: "seed",
      method: "POST",
      path: "/patients",
      body: patientBody(random, i % 2 === 0),
      headers: { "idempotency-key": uuid(random) },
    });
    patients.push({ id, token: await adminToken({ role: "patient", sub: id }) });
  }
  return { admin, hot, cold, patients, appointments: new Map() };
}

function patientBody(random: Random, insured: boolean): Record<string, unknown> {
  const tag = uuid(random).slice(0, 13);
  return {
    name: `Soak Patient ${tag}`,
    email: `soak-${tag}@soak.test`,
    birthDate: "1980-01-01",
    ...(insured ? { insuranceMemberId: `ACME-${tag.slice(0, 8).toUpperCase()}` } : {}),
  };
}

export function pickKind(random: Random): OperationKind {
  let x = random.next();
  for (const [kind, share] of MIX) {
    x -= share;
    if (x < 0) return kind;
  }
  return "availability";
}

/** A future slot of `minutes` inside the hot doctors' working hours, on the half hour. */
function futureSlot(random: Random, minutes: number): { startsAt: string; endsAt: string } {
  const day = new Date();
  day.setUTCHours(0, 0, 0, 0);
  day.setUTCDate(day.getUTCDate() + random.int(1, DAYS_AHEAD));
  const start = new Date(day.getTime() + (6 * 60 + 30 * random.int(0, 30)) * 60_000);
  return { startsAt: start.toISOString(), endsAt: new Date(start.getTime() + minutes * 60_000).toISOString() };
}

const pickDoctor = (w: World, r: Random): Person => (r.next() < 0.7 ? r.pick(w.hot) : r.pick(w.cold));

function remember(w: World, out: Outcome): void {
  const a = asRecord(out.json);
  if (!out.status || out.status >= 300 || typeof a.id !== "string") return;
  w.appointments.set(a.id, {
    id: a.id,
    doctorId: String(a.doctorId),
    patientId: String(a.patientId),
    startsAt: String(a.startsAt),
    version: Number(a.version),
    status: String(a.status),
  });
}

function someAppointment(w: World, r: Random, want: (a: Appointment) => boolean): Appointment | undefined {
  const candidates = [...w.appointments.values()].filter(want);
  return candidates.length === 0 ? undefined : r.pick(candidates);
}

/** Runs one operation of `kind` as a fresh logical operation `op`. */
export async function runOperation(
  ctx: ClientContext,
  w: World,
  r: Random,
  op: number,
  kind: OperationKind,
): Promise<void> {
  switch (kind) {
    case "book":
    case "book-soon": {
      const patient = r.pick(w.patients);
      // A visit that begins within a minute, with a cold doctor: something for doctors to complete.
      const soon = kind === "book-soon";
      const doctor = soon ? r.pick(w.cold) : pickDoctor(w, r);
      const start = new Date(Date.now() + r.int(20, 60) * 1_000);
      const slot = soon
        ? { startsAt: start.toISOString(), endsAt: new Date(start.getTime() + 5 * 60_000).toISOString() }
        : futureSlot(r, 30);
      const out = await send(ctx, {
        op,
        kind,
        method: "POST",
        path: "/appointments",
        token: patient.token,
        body: { doctorId: doctor.id, patientId: patient.id, ...slot },
        headers: { "idempotency-key": uuid(r) },
      });
      remember(w, out);
      return;
    }
    case "reschedule": {
      const a = someAppointment(
        w,
        r,
        (x) => x.status === "scheduled" && Date.parse(x.startsAt) > Date.now() + 3_600_000,
      );
      if (!a) return;
      const patient = w.patients.find((p) => p.id === a.patientId);
      const out = await send(ctx, {
        op,
        kind,
        method: "PATCH",
        path: `/appointments/${a.id}`,
        token: patient?.token ?? w.admin,
        body: futureSlot(r, 30),
        headers: { "if-match": `"${a.version}"` },
      });
      remember(w, out);
      return;
    }
    case "cancel": {
      const a = someAppointment(w, r, (x) => x.status === "scheduled");
      if (!a) return;
      const patient = w.patients.find((p) => p.id === a.patientId);
      remember(
        w,
        await send(ctx, { op, kind, method: "POST", path: `/appointments/${a.id}/cancel`, token: patient?.token }),
      );
      return;
    }
    case "complete": {
      const a = someAppointment(w, r, (x) => x.status === "scheduled" && Date.parse(x.startsAt) < Date.now());
      if (!a) return;
      const doctor = [...w.hot, ...w.cold].find((d) => d.id === a.doctorId);
      remember(
        w,
        await send(ctx, { op, kind, method: "POST", path: `/appointments/${a.id}/complete`, token: doctor?.token }),
      );
      return;
    }
    case "doctor-day": {
      const doctor = pickDoctor(w, r);
      const { startsAt } = futureSlot(r, 30);
      const from = `${startsAt.slice(0, 10)}T00:00:00Z`;
      const to = `${startsAt.slice(0, 10)}T23:59:59Z`;
      await send(ctx, {
        op,
        kind,
        method: "GET",
        path: `/appointments?doctorId=${doctor.id}&from=${from}&to=${to}`,
        token: doctor.token,
      });
      return;
    }
    case "availability": {
      const doctor = pickDoctor(w, r);
      const date = futureSlot(r, 30).startsAt.slice(0, 10);
      await send(ctx, { op, kind, method: "GET", path: `/doctors/${doctor.id}/availability?date=${date}` });
      return;
    }
    case "create-patient": {
      const out = await send(ctx, {
        op,
        kind,
        method: "POST",
        path: "/patients",
        token: w.admin,
        body: patientBody(r, r.next() < 0.5),
        headers: { "idempotency-key": uuid(r) },
      });
      const id = asRecord(out.json).id;
      if (out.status === 201 && typeof id === "string")
        w.patients.push({ id, token: await adminToken({ role: "patient", sub: id }) });
      return;
    }
    case "edit-doctor":
    case "edit-patient": {
      const doctorEdit = kind === "edit-doctor";
      const id = doctorEdit ? pickDoctor(w, r).id : r.pick(w.patients).id;
      const path = `${doctorEdit ? "/doctors" : "/patients"}/${id}`;
      const read = await send(ctx, { op, kind: `${kind}:read`, method: "GET", path, token: w.admin });
      const etag = read.headers?.etag;
      if (read.status !== 200 || !etag) return;
      const body = doctorEdit
        ? { name: `Dr. Soak ${uuid(r).slice(0, 8)}` }
        : { phone: `+1555${r.int(1_000_000, 9_999_999)}` };
      await send(ctx, { op, kind, method: "PATCH", path, token: w.admin, body, headers: { "if-match": etag } });
      return;
    }
  }
}
