/**
 * The write load of bench:round-trips: bookings and reschedules that never collide (each loop
 * worker books for a doctor of its own, at slots no one else uses), so every answer is a 2xx and
 * the time measured is the write's own. Each request carries its own X-Request-Id, so what the
 * stand-ins saw of it (round trips, WebSocket connections) is read back by application_name.
 */
import { Agent } from "node:http";
import type pg from "pg";
import { send } from "../lib/closed-loop.ts";
import type { LocalServices } from "../lib/stack.ts";

/** Doctors and patients of the bench's own: no schedule (any slot is bookable), no insurance (no insurer call). */
export interface Fixtures {
  /** One per loop worker, for bookings. */
  bookingDoctors: string[];
  /** One per loop worker, each with one appointment it moves again and again. */
  rescheduleDoctors: string[];
  appointments: string[];
  patient: string;
}

export async function createFixtures(monitor: pg.Client, workers: number): Promise<Fixtures> {
  const doctors = async (label: string): Promise<string[]> =>
    (
      await monitor.query<{ id: string }>(
        "INSERT INTO doctors (name, specialty) SELECT $1 || g, 'bench' FROM generate_series(1, $2::int) g RETURNING id",
        [label, workers],
      )
    ).rows.map((r) => r.id);
  const bookingDoctors = await doctors("Bench booking ");
  const rescheduleDoctors = await doctors("Bench reschedule ");
  const [patient] = (
    await monitor.query<{ id: string }>(
      "INSERT INTO patients (name, email, birth_date) VALUES ('Bench patient', $1, '1980-01-01') RETURNING id",
      [`bench-${crypto.randomUUID()}@example.test`],
    )
  ).rows;
  const appointments = (
    await monitor.query<{ id: string }>(
      `INSERT INTO appointments (doctor_id, patient_id, starts_at, ends_at)
       SELECT d, $2::uuid, now() + interval '1 day', now() + interval '1 day 15 minutes' FROM unnest($1::uuid[]) d
       RETURNING id`,
      [rescheduleDoctors, patient!.id],
    )
  ).rows.map((r) => r.id);
  return { bookingDoctors, rescheduleDoctors, appointments, patient: patient!.id };
}

export type Operation = "book" | "reschedule";

export interface WriteSample {
  latencies: number[];
  errors: number;
  elapsedS: number;
  /** Per successful request, as the /sql endpoint and the bridge counted them. */
  roundTrips: number[];
  connections: number[];
  /** The first error bodies, for the report when a run went wrong. */
  errorSamples: string[];
}

const SLOT_MS = 15 * 60_000;
/** Every slot the bench hands out is new: a counter over the whole run, per worker. */
const nextSlot = new Map<number, number>();

function slotFor(worker: number): { startsAt: string; endsAt: string } {
  const n = (nextSlot.get(worker) ?? 0) + 1;
  nextSlot.set(worker, n);
  const start = Math.ceil((Date.now() + 2 * 86_400_000) / SLOT_MS) * SLOT_MS + n * SLOT_MS * 2;
  return { startsAt: new Date(start).toISOString(), endsAt: new Date(start + SLOT_MS).toISOString() };
}

/** Closed loop: one request in flight per worker (fixtures sized to `workers`), for `seconds`. */
export async function writeLoop(
  op: Operation,
  base: string,
  auth: Record<string, string>,
  fixtures: Fixtures,
  services: LocalServices,
  workers: number,
  seconds: number,
): Promise<WriteSample> {
  const agent = new Agent({ keepAlive: true, maxSockets: workers });
  const sample: WriteSample = {
    latencies: [],
    errors: 0,
    elapsedS: 0,
    roundTrips: [],
    connections: [],
    errorSamples: [],
  };
  const started = performance.now();
  const until = started + seconds * 1_000;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < until) {
        const requestId = `bench-rt-${crypto.randomUUID()}`;
        const headers = { ...auth, "content-type": "application/json", "x-request-id": requestId };
        const slot = slotFor(w);
        const t0 = performance.now();
        const reply =
          op === "book"
            ? await send(agent, `${base}/appointments`, {
                method: "POST",
                headers: { ...headers, "idempotency-key": crypto.randomUUID() },
                body: JSON.stringify({ doctorId: fixtures.bookingDoctors[w], patientId: fixtures.patient, ...slot }),
                timeoutMs: 30_000,
              })
            : await send(agent, `${base}/appointments/${fixtures.appointments[w]}`, {
                method: "PATCH",
                headers: { ...headers, "if-match": "*" },
                body: JSON.stringify(slot),
                timeoutMs: 30_000,
              });
        const ms = performance.now() - t0;
        if (reply.status.startsWith("2")) {
          sample.latencies.push(ms);
          const app = `clinic-edge:${requestId}`;
          const http = services.sqlEndpoint.stats(app);
          const ws = services.bridge.stats(app);
          sample.roundTrips.push((http?.requests ?? 0) + (ws?.roundTrips ?? 0));
          sample.connections.push(ws?.connections ?? 0);
        } else {
          sample.errors++;
          if (sample.errorSamples.length < 3) sample.errorSamples.push(`${reply.status} ${reply.body.slice(0, 300)}`);
        }
      }
    }),
  );
  sample.elapsedS = (performance.now() - started) / 1_000;
  agent.destroy();
  return sample;
}
