import { describe, expect, it } from "vitest";
import { call, expectProblem, fieldsOf, json, patchJson, postJson } from "../../helpers/api.ts";
import { ADMIN, asDoctor, asPatient } from "../../helpers/auth.ts";
import { count, withSql } from "../../helpers/db.ts";
import {
  book,
  createDoctor,
  createPatient,
  doctorWithSchedule,
  slot,
  type Appointment,
  type BookedAppointment,
} from "../../helpers/factories.ts";

interface History {
  appointmentId: string;
  events: Array<{
    event: string;
    status: string;
    startsAt: string;
    endsAt: string;
    version: number;
    requestId: string | null;
    clientRequestId: string | null;
    actor: { role: string; id: string | null } | null;
  }>;
}

const reschedule = (a: Appointment, to: { startsAt: string; endsAt: string }, ifMatch = `"${a.version}"`) =>
  patchJson(`/appointments/${a.id}`, to, ifMatch);

interface Row {
  id: string;
  starts_ms: number;
  ends_ms: number;
  status: string;
  version: number;
}

describe("PATCH /appointments/:id (reschedule)", () => {
  it("moves the appointment, frees the old slot and records the change in the history", async () => {
    const [doctor, patient, other] = [await createDoctor(), await createPatient(), await createPatient()];
    const booked = await book(doctor.id, patient.id, slot(3));

    const moved = await json<Appointment>(await reschedule(booked, slot(4)), 200);

    expect(moved).toMatchObject({ ...slot(4), status: "scheduled", version: booked.version + 1 });
    expect((await json<Appointment>(await call(`/appointments/${booked.id}`), 200)).startsAt).toBe(slot(4).startsAt);
    await book(doctor.id, other.id, slot(3));
    const history = await json<History>(await call(`/appointments/${booked.id}/history`), 200);
    expect(history.events.map((e) => [e.event, e.startsAt, e.version])).toEqual([
      ["booked", slot(3).startsAt, 1],
      ["rescheduled", slot(4).startsAt, 2],
    ]);
  });

  it("refuses a slot overlapping another appointment of the doctor with 409, changing nothing", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const first = await book(doctor.id, patient.id, slot(3, 10));
    const second = await book(doctor.id, patient.id, slot(3, 12));

    const clash = await reschedule(second, { startsAt: slot(3, 10).startsAt, endsAt: slot(3, 11).startsAt });

    expect(fieldsOf(await expectProblem(clash, 409))).toEqual(["startsAt"]);
    // Both appointments as the API and as Postgres hold them: exactly as booked.
    for (const a of [first, second]) {
      const { startsAt, endsAt, status, version } = await json<Appointment>(await call(`/appointments/${a.id}`), 200);
      expect({ startsAt, endsAt, status, version }).toEqual({
        startsAt: a.startsAt,
        endsAt: a.endsAt,
        status: "scheduled",
        version: a.version,
      });
    }
    const rows = await withSql(async (sql) => {
      const q = `SELECT id, extract(epoch FROM starts_at)::float8 * 1000 AS starts_ms, extract(epoch FROM ends_at)::float8 * 1000 AS ends_ms, status, version FROM appointments WHERE id = ANY($1) ORDER BY starts_at`;
      return (await sql.query<Row>(q, [[first.id, second.id]])).rows;
    });
    expect(rows.map((r) => [r.id, r.starts_ms, r.ends_ms, r.status, r.version])).toEqual(
      [first, second].map((a) => [a.id, Date.parse(a.startsAt), Date.parse(a.endsAt), "scheduled", a.version]),
    );
    expect(
      await count("SELECT 1 FROM appointment_events WHERE appointment_id = ANY($1)", [[first.id, second.id]]),
    ).toBe(2);
  });

  it("refuses a slot in the past (422) and a cancelled appointment (409)", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const booked = await book(doctor.id, patient.id, slot(3));

    expect(fieldsOf(await expectProblem(await reschedule(booked, slot(-1)), 422))).toEqual(["startsAt"]);
    const cancelled = await json<Appointment>(await call(`/appointments/${booked.id}/cancel`, { method: "POST" }), 200);
    await expectProblem(await reschedule(cancelled, slot(5)), 409);
  });

  it("validates the new slot like a booking: 400 naming endsAt, unknown fields refused", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const booked = await book(doctor.id, patient.id, slot(3));
    const { startsAt } = slot(4);
    expect(fieldsOf(await expectProblem(await reschedule(booked, { startsAt, endsAt: startsAt }), 400))).toEqual([
      "endsAt",
    ]);
    const extra = await patchJson(`/appointments/${booked.id}`, { ...slot(4), doctorId: doctor.id }, "*");
    await expectProblem(extra, 400);
  });

  it("answers 404 for an unknown appointment", async () => {
    await expectProblem(await patchJson(`/appointments/${crypto.randomUUID()}`, slot(4), "*"), 404);
  });
});

describe("working hours", () => {
  it("refuses a booking or a reschedule outside the doctor's schedule with 422 naming startsAt", async () => {
    const [doctor, patient] = [await doctorWithSchedule(), await createPatient()]; // every day 09:00-12:00 UTC
    const inside = await book(doctor.id, patient.id, slot(3, 9));

    const evening = await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...slot(3, 18) });
    const straddling = await reschedule(inside, slot(3, 11, 90));

    expect(fieldsOf(await expectProblem(evening, 422))).toEqual(["startsAt"]);
    expect(fieldsOf(await expectProblem(straddling, 422))).toEqual(["startsAt"]);
    expect((await json<Appointment>(await reschedule(inside, slot(3, 11, 60)), 200)).endsAt).toBe(
      slot(3, 11, 60).endsAt,
    );
  });

  it("lets a doctor without a schedule be booked at any time", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    expect((await book(doctor.id, patient.id, slot(3, 22))).status).toBe("scheduled");
  });
});

describe("POST /appointments/:id/complete", () => {
  async function pastAppointment(): Promise<Appointment> {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const booked = await book(doctor.id, patient.id, slot(3));
    // Bookings must be in the future; time passes by moving the appointment back in the database.
    await withSql((sql) =>
      sql.query(
        "UPDATE appointments SET starts_at = now() - interval '1 hour', ends_at = now() - interval '30 minutes' WHERE id = $1",
        [booked.id],
      ),
    );
    return json<Appointment>(await call(`/appointments/${booked.id}`), 200);
  }

  it("completes an appointment that has begun; completing it again changes nothing", async () => {
    const appointment = await pastAppointment();
    const done = await json<Appointment>(
      await call(`/appointments/${appointment.id}/complete`, { method: "POST" }),
      200,
    );
    const again = await json<Appointment>(
      await call(`/appointments/${appointment.id}/complete`, { method: "POST" }),
      200,
    );

    expect(done).toMatchObject({ status: "completed", version: appointment.version + 1 });
    expect(again.version).toBe(done.version);
    const history = await json<History>(await call(`/appointments/${appointment.id}/history`), 200);
    expect(history.events.map((e) => e.event)).toEqual(["booked", "rescheduled", "completed"]);
  });

  it("refuses to complete one that has not begun or was cancelled (409); a completed one cannot be cancelled", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const future = await book(doctor.id, patient.id, slot(3));
    await expectProblem(await call(`/appointments/${future.id}/complete`, { method: "POST" }), 409);
    await json(await call(`/appointments/${future.id}/cancel`, { method: "POST" }), 200);
    await expectProblem(await call(`/appointments/${future.id}/complete`, { method: "POST" }), 409);

    const done = await pastAppointment();
    await json(await call(`/appointments/${done.id}/complete`, { method: "POST" }), 200);
    await expectProblem(await call(`/appointments/${done.id}/cancel`, { method: "POST" }), 409);
  });
});

describe("GET /appointments/:id/history", () => {
  it("lists every change with the appointment's state after it, the request that made it and who", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const bookedRes = await postJson(
      "/appointments",
      { doctorId: doctor.id, patientId: patient.id, ...slot(3) },
      { headers: { "x-request-id": "history-book" }, as: asPatient(patient.id) },
    );
    const booked = await json<BookedAppointment>(bookedRes, 201);
    const cancelRes = await call(`/appointments/${booked.id}/cancel`, {
      method: "POST",
      headers: { "x-request-id": "history-cancel" },
      as: asDoctor(doctor.id),
    });
    expect(cancelRes.status).toBe(200);

    const history = await json<History>(await call(`/appointments/${booked.id}/history`), 200);

    expect(history.appointmentId).toBe(booked.id);
    expect(history.events).toMatchObject([
      {
        event: "booked",
        status: "scheduled",
        ...slot(3),
        version: 1,
        requestId: bookedRes.headers.get("x-request-id"),
        clientRequestId: "history-book",
        actor: { role: "patient", id: patient.id },
      },
      {
        event: "cancelled",
        status: "cancelled",
        ...slot(3),
        version: 2,
        requestId: cancelRes.headers.get("x-request-id"),
        clientRequestId: "history-cancel",
        actor: { role: "doctor", id: doctor.id },
      },
    ]);
  });

  it("never takes a client's X-Request-Id for the request's own id, and hides admins' subjects from patients", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const earlier = await book(doctor.id, patient.id, slot(4));
    const [first] = (await json<History>(await call(`/appointments/${earlier.id}/history`), 200)).events;
    // A second client sends the first request's server id as its own X-Request-Id.
    const spoofed = await json<BookedAppointment>(
      await postJson(
        "/appointments",
        { doctorId: doctor.id, patientId: patient.id, ...slot(5) },
        { headers: { "x-request-id": first!.requestId! } },
      ),
      201,
    );
    const seenByPatient = await json<History>(
      await call(`/appointments/${spoofed.id}/history`, { as: asPatient(patient.id) }),
      200,
    );
    expect(seenByPatient.events[0]).toMatchObject({
      clientRequestId: first!.requestId,
      actor: { role: "admin", id: null },
    });
    expect(seenByPatient.events[0]!.requestId).not.toBe(first!.requestId);
    const seenByAdmin = await json<History>(await call(`/appointments/${spoofed.id}/history`), 200);
    expect(seenByAdmin.events[0]!.actor).toEqual({ role: "admin", id: ADMIN.sub });
  });

  it("answers 404 for an unknown appointment", async () => {
    await expectProblem(await call(`/appointments/${crypto.randomUUID()}/history`), 404);
  });

  it("is append-only: Postgres refuses to change or delete a history row", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const booked = await book(doctor.id, patient.id, slot(3));
    await withSql(async (sql) => {
      await expect(
        sql.query("UPDATE appointment_events SET event = 'cancelled' WHERE appointment_id = $1", [booked.id]),
      ).rejects.toThrow(/append-only/);
      await expect(sql.query("DELETE FROM appointment_events WHERE appointment_id = $1", [booked.id])).rejects.toThrow(
        /append-only/,
      );
    });
    expect(
      await count("SELECT 1 FROM appointment_events WHERE appointment_id = $1 AND event = 'booked'", [booked.id]),
    ).toBe(1);
  });
});

describe("concurrent bookings of one slot", () => {
  it("lets exactly one of 50 bookings with different keys win; the others get 409 and the table holds one row", async () => {
    const doctor = await createDoctor();
    const patients = await Promise.all(Array.from({ length: 5 }, () => createPatient()));
    const when = slot(3);

    const statuses = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await postJson(
          "/appointments",
          { doctorId: doctor.id, patientId: patients[i % 5]!.id, ...when },
          { headers: { "idempotency-key": crypto.randomUUID() } },
        );
        return res.status;
      }),
    );

    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    expect(await count("SELECT 1 FROM appointments WHERE doctor_id = $1", [doctor.id])).toBe(1);
    expect(await count("SELECT 1 FROM idempotency_keys k WHERE k.response_body LIKE $1", [`%${doctor.id}%`])).toBe(1);
  });
});
