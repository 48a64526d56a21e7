import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { call, patchJson, postJson } from "../../helpers/api.ts";
import { withSql } from "../../helpers/db.ts";
import { createDoctor, createPatient } from "../../helpers/factories.ts";

/**
 * Random sequences of bookings, reschedules and cancellations across a few doctors, run through the
 * API against a model of what the answers must be; afterwards Postgres must hold no overlapping
 * scheduled appointments and a history that agrees with every appointment's current state.
 */

const DOCTORS = 3;
const SLOT_MINUTES = 30;

const Slot = fc.record({
  day: fc.integer({ min: 2, max: 3 }),
  start: fc.integer({ min: 0, max: 7 }), // half hours from 09:00 UTC
  length: fc.integer({ min: 1, max: 3 }), // half hours
});
type Slot = typeof Slot extends fc.Arbitrary<infer T> ? T : never;

const Op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant("book" as const), doctor: fc.nat(DOCTORS - 1), slot: Slot }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("reschedule" as const), which: fc.nat(), slot: Slot }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("cancel" as const), which: fc.nat() }) },
);
type Op = typeof Op extends fc.Arbitrary<infer T> ? T : never;

interface Modelled {
  id: string;
  doctor: number;
  start: number;
  end: number;
  status: "scheduled" | "cancelled";
}

function instants(slot: Slot): { startsAt: string; endsAt: string; start: number; end: number } {
  const day = new Date();
  day.setUTCDate(day.getUTCDate() + slot.day);
  day.setUTCHours(9, 0, 0, 0);
  const start = day.getTime() + slot.start * SLOT_MINUTES * 60_000;
  const end = start + slot.length * SLOT_MINUTES * 60_000;
  return { startsAt: new Date(start).toISOString(), endsAt: new Date(end).toISOString(), start, end };
}

const overlaps = (model: Modelled[], doctor: number, start: number, end: number, except?: string) =>
  model.some(
    (a) => a.id !== except && a.doctor === doctor && a.status === "scheduled" && a.start < end && start < a.end,
  );

async function run(ops: Op[]): Promise<void> {
  const doctors = await Promise.all(Array.from({ length: DOCTORS }, () => createDoctor()));
  const patient = await createPatient();
  const model: Modelled[] = [];

  for (const op of ops) {
    if (op.op === "book") {
      const t = instants(op.slot);
      const res = await postJson("/appointments", {
        doctorId: doctors[op.doctor]!.id,
        patientId: patient.id,
        startsAt: t.startsAt,
        endsAt: t.endsAt,
      });
      const expected = overlaps(model, op.doctor, t.start, t.end) ? 409 : 201;
      expect(res.status, `book ${JSON.stringify(op)}`).toBe(expected);
      if (res.status === 201)
        model.push({
          id: (await res.json<{ id: string }>()).id,
          doctor: op.doctor,
          start: t.start,
          end: t.end,
          status: "scheduled",
        });
      continue;
    }
    const target = model[op.which % Math.max(1, model.length)];
    if (!target) continue;
    if (op.op === "cancel") {
      const res = await call(`/appointments/${target.id}/cancel`, { method: "POST" });
      expect(res.status, `cancel ${target.id}`).toBe(200);
      target.status = "cancelled";
      continue;
    }
    const t = instants(op.slot);
    const res = await patchJson(`/appointments/${target.id}`, { startsAt: t.startsAt, endsAt: t.endsAt });
    const expected =
      target.status !== "scheduled" || overlaps(model, target.doctor, t.start, t.end, target.id) ? 409 : 200;
    expect(res.status, `reschedule ${JSON.stringify(op)}`).toBe(expected);
    if (res.status === 200) Object.assign(target, { start: t.start, end: t.end });
  }

  const ids = doctors.map((d) => d.id);
  await withSql(async (sql) => {
    const { rows: clashes } = await sql.query(
      `SELECT a.id FROM appointments a JOIN appointments b
         ON a.doctor_id = b.doctor_id AND a.id < b.id
        AND a.status = 'scheduled' AND b.status = 'scheduled'
        AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
       WHERE a.doctor_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(clashes).toEqual([]);
    // The last event of each appointment is its current state; versions run 1, 2, 3... without gaps.
    const { rows: disagreements } = await sql.query(
      `SELECT a.id FROM appointments a
       JOIN LATERAL (SELECT * FROM appointment_events e WHERE e.appointment_id = a.id ORDER BY e.id DESC LIMIT 1) last ON true
       WHERE a.doctor_id = ANY($1::uuid[])
         AND (last.status, last.starts_at, last.ends_at, last.version) IS DISTINCT FROM (a.status, a.starts_at, a.ends_at, a.version)
          OR a.doctor_id = ANY($1::uuid[])
         AND (SELECT count(*) FROM appointment_events e WHERE e.appointment_id = a.id) <> a.version`,
      [ids],
    );
    expect(disagreements).toEqual([]);
    const { rows } = await sql.query<{ id: string; status: string; starts_ms: string }>(
      "SELECT id, status, (extract(epoch FROM starts_at) * 1000)::bigint::text AS starts_ms FROM appointments WHERE doctor_id = ANY($1::uuid[])",
      [ids],
    );
    expect(rows.map((r) => [r.id, r.status, Number(r.starts_ms)]).sort()).toEqual(
      model.map((m) => [m.id, m.status, m.start]).sort(),
    );
  });
}

describe("scheduling properties", () => {
  it("never leaves overlapping scheduled appointments, and the history always agrees with the appointments", async () => {
    await fc.assert(fc.asyncProperty(fc.array(Op, { minLength: 1, maxLength: 14 }), run), {
      // Fixed seed: CI runs the same cases every time; change it (or drop it) to explore locally.
      seed: 20_261_128,
      numRuns: 25,
      // A run cut short by the time limit fails rather than passing on the cases it reached.
      interruptAfterTimeLimit: 110_000,
      markInterruptAsFailure: true,
    });
  }, 150_000);
});
