/**
 * One patient's token cannot fill the doctors' calendars: MAX_UPCOMING_APPOINTMENTS caps the
 * scheduled appointments ahead a patient may hold, counted under the patient's lock so concurrent
 * bookings with different doctors cannot slip past it.
 */
import { describe, expect, it } from "vitest";
import { expectProblem, json } from "../../helpers/api.ts";
import { workerWith } from "../../helpers/app.ts";
import { asPatient } from "../../helpers/auth.ts";
import { withSql } from "../../helpers/db.ts";
import { createDoctor, createPatient, slot } from "../../helpers/factories.ts";

const capped = () => workerWith({ MAX_UPCOMING_APPOINTMENTS: "2" });

function booking(doctorId: string, patientId: string, daysAhead: number): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ doctorId, patientId, ...slot(daysAhead) }),
  };
}

const scheduledOf = (patientId: string) =>
  withSql(async (sql) => {
    const { rows } = await sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM appointments WHERE patient_id = $1 AND status = 'scheduled'",
      [patientId],
    );
    return rows[0]!.n;
  });

describe("MAX_UPCOMING_APPOINTMENTS", () => {
  it("refuses the booking beyond the cap with 409 naming patientId, and writes nothing", async () => {
    const worker = capped();
    const patient = await createPatient();
    const as = asPatient(patient.id);
    const doctors = [await createDoctor(), await createDoctor(), await createDoctor()];
    for (const [i, d] of doctors.slice(0, 2).entries()) {
      expect((await worker.fetch("/appointments", { ...booking(d.id, patient.id, 10 + i), as })).status).toBe(201);
    }
    const refused = await expectProblem(
      await worker.fetch("/appointments", { ...booking(doctors[2]!.id, patient.id, 20), as }),
      409,
    );
    expect(refused.errors).toEqual([expect.objectContaining({ field: "patientId", in: "body" })]);
    expect(refused.detail).toContain("2 upcoming");
    expect(await scheduledOf(patient.id)).toBe(2);
  });

  it("counts only scheduled appointments: after a cancellation the patient may book again", async () => {
    const worker = capped();
    const patient = await createPatient();
    const doctor = await createDoctor();
    const first = await json<{ id: string }>(
      await worker.fetch("/appointments", booking(doctor.id, patient.id, 10)),
      201,
    );
    await json(await worker.fetch("/appointments", booking(doctor.id, patient.id, 11)), 201);
    await expectProblem(await worker.fetch("/appointments", booking(doctor.id, patient.id, 12)), 409);
    expect((await worker.fetch(`/appointments/${first.id}/cancel`, { method: "POST" })).status).toBe(200);
    expect((await worker.fetch("/appointments", booking(doctor.id, patient.id, 12))).status).toBe(201);
  });

  it("holds under concurrency: six bookings at once with six doctors leave exactly the cap", async () => {
    const worker = capped();
    const patient = await createPatient();
    const doctors = await Promise.all(Array.from({ length: 6 }, () => createDoctor()));
    const statuses = await Promise.all(
      doctors.map(async (d, i) => (await worker.fetch("/appointments", booking(d.id, patient.id, 10 + i))).status),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    expect(statuses.filter((s) => s === 409)).toHaveLength(4);
    expect(await scheduledOf(patient.id)).toBe(2);
  });
});
