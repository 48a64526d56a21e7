import { describe, expect, it } from "vitest";
import { call, expectProblem, fieldsOf, json, postJson } from "../../helpers/api.ts";
import { count, withSql } from "../../helpers/db.ts";
import { book, createDoctor, createPatient, slot, type Appointment, type Page } from "../../helpers/factories.ts";

async function doctorAndPatient() {
  return { doctor: await createDoctor(), patient: await createPatient() };
}

describe("POST /appointments", () => {
  it("books a free slot: 201, scheduled, stored", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const when = slot(7);
    const res = await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...when });
    const appointment = await json<Appointment>(res, 201);
    expect(appointment).toMatchObject({ doctorId: doctor.id, patientId: patient.id, ...when, status: "scheduled" });
    expect(res.headers.get("location")).toBe(`/appointments/${appointment.id}`);
    expect(await count("SELECT 1 FROM appointments WHERE id = $1 AND status = 'scheduled'", [appointment.id])).toBe(1);
  });

  it("refuses an overlapping slot of the same doctor with 409 from the database constraint", async () => {
    const { doctor, patient } = await doctorAndPatient();
    await book(doctor.id, patient.id, slot(8, 10, 60));
    const overlapping = {
      startsAt: slot(8, 10, 60).startsAt.replace("T10:00", "T10:30"),
      endsAt: slot(8, 11, 30).endsAt,
    };
    const problem = await expectProblem(
      await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...overlapping }),
      409,
    );
    expect(fieldsOf(problem)).toEqual(["startsAt"]);
    expect(await count("SELECT 1 FROM appointments WHERE doctor_id = $1", [doctor.id])).toBe(1);
  });

  it("allows back-to-back appointments and the same time with another doctor", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const other = await createDoctor();
    await book(doctor.id, patient.id, slot(9, 10));
    await book(doctor.id, patient.id, { startsAt: slot(9, 10).endsAt, endsAt: slot(9, 11).startsAt });
    await book(other.id, patient.id, slot(9, 10));
  });

  it("lets exactly one of many concurrent bookings of one slot win", async () => {
    const doctor = await createDoctor();
    const patients = await Promise.all(Array.from({ length: 10 }, () => createPatient()));
    const when = slot(10);
    const responses = await Promise.all(
      patients.map((p) => postJson("/appointments", { doctorId: doctor.id, patientId: p.id, ...when })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([201, ...Array<number>(9).fill(409)]);
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    expect(await count("SELECT 1 FROM appointments WHERE doctor_id = $1", [doctor.id])).toBe(1);
  });

  it("refuses a slot in the past with 422 naming `startsAt`", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const problem = await expectProblem(
      await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...slot(-1) }),
      422,
    );
    expect(fieldsOf(problem)).toEqual(["startsAt"]);
  });

  it("refuses a slot more than two years ahead with 422", async () => {
    const { doctor, patient } = await doctorAndPatient();
    await expectProblem(
      await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...slot(800) }),
      422,
    );
  });

  it("refuses an inactive doctor, an unknown doctor and an unknown patient with 422 naming the field", async () => {
    const { doctor, patient } = await doctorAndPatient();
    await call(`/doctors/${doctor.id}/deactivate`, { method: "POST" });
    const inactive = await expectProblem(
      await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...slot(11) }),
      422,
    );
    expect(fieldsOf(inactive)).toEqual(["doctorId"]);

    const ghostDoctor = await expectProblem(
      await postJson("/appointments", { doctorId: crypto.randomUUID(), patientId: patient.id, ...slot(11) }),
      422,
    );
    expect(fieldsOf(ghostDoctor)).toEqual(["doctorId"]);

    const active = await createDoctor();
    const ghostPatient = await expectProblem(
      await postJson("/appointments", { doctorId: active.id, patientId: crypto.randomUUID(), ...slot(11) }),
      422,
    );
    expect(fieldsOf(ghostPatient)).toEqual(["patientId"]);
    expect(await count("SELECT 1 FROM appointments WHERE doctor_id IN ($1, $2)", [doctor.id, active.id])).toBe(0);
  });

  it("rejects an end before the start, too short or too long, with 400 naming `endsAt`", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const base = { doctorId: doctor.id, patientId: patient.id };
    const s = slot(12);
    for (const endsAt of [s.startsAt, slot(12, 10, 2).endsAt, slot(12, 10, 9 * 60).endsAt]) {
      const problem = await expectProblem(
        await postJson("/appointments", { ...base, startsAt: s.startsAt, endsAt }),
        400,
      );
      expect(fieldsOf(problem)).toEqual(["endsAt"]);
    }
  });

  it("rejects malformed ids and instants with 400 naming each field", async () => {
    const problem = await expectProblem(
      await postJson("/appointments", {
        doctorId: "x",
        patientId: 5,
        startsAt: "tomorrow",
        endsAt: "2027-02-30T10:00:00Z",
      }),
      400,
    );
    expect(fieldsOf(problem).sort()).toEqual(["doctorId", "endsAt", "patientId", "startsAt"]);
  });

  it("accepts instants with an offset and stores them as the same instant", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const utc = slot(13, 15);
    const local = {
      startsAt: utc.startsAt.replace("T15:00:00.000Z", "T12:00:00-03:00"),
      endsAt: utc.endsAt.replace("T15:30:00.000Z", "T12:30:00-03:00"),
    };
    const appointment = await book(doctor.id, patient.id, local);
    expect(appointment).toMatchObject(utc);
  });
});

describe("GET /appointments/:id", () => {
  it("returns the appointment, 404 when unknown", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const booked = await book(doctor.id, patient.id, slot(14));
    expect(await json<Appointment>(await call(`/appointments/${booked.id}`), 200)).toEqual(booked);
    await expectProblem(await call(`/appointments/${crypto.randomUUID()}`), 404);
  });
});

describe("GET /appointments", () => {
  it("filters by doctor, patient, status and start window, ordered by start", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const otherPatient = await createPatient();
    const a = await book(doctor.id, patient.id, slot(15, 9));
    const b = await book(doctor.id, otherPatient.id, slot(15, 11));
    const c = await book(doctor.id, patient.id, slot(16, 9));
    await call(`/appointments/${c.id}/cancel`, { method: "POST" });

    const byDoctor = await json<Page<Appointment>>(await call(`/appointments?doctorId=${doctor.id}`), 200);
    expect(byDoctor.data.map((x) => x.id)).toEqual([a.id, b.id, c.id]);

    const byPatient = await json<Page<Appointment>>(
      await call(`/appointments?doctorId=${doctor.id}&patientId=${patient.id}`),
      200,
    );
    expect(byPatient.data.map((x) => x.id)).toEqual([a.id, c.id]);

    const scheduled = await json<Page<Appointment>>(
      await call(`/appointments?doctorId=${doctor.id}&status=scheduled`),
      200,
    );
    expect(scheduled.data.map((x) => x.id)).toEqual([a.id, b.id]);

    const window = await json<Page<Appointment>>(
      await call(`/appointments?doctorId=${doctor.id}&from=${slot(15, 10).startsAt}&to=${slot(16, 0).startsAt}`),
      200,
    );
    expect(window.data.map((x) => x.id)).toEqual([b.id]);
  });

  it("pages with a cursor without skipping or repeating", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const booked = [];
    for (let h = 8; h < 13; h++) booked.push(await book(doctor.id, patient.id, slot(17, h)));
    const first = await json<Page<Appointment>>(await call(`/appointments?doctorId=${doctor.id}&limit=3`), 200);
    const second = await json<Page<Appointment>>(
      await call(`/appointments?doctorId=${doctor.id}&limit=3&cursor=${first.nextCursor}`),
      200,
    );
    expect([...first.data, ...second.data].map((x) => x.id)).toEqual(booked.map((x) => x.id));
    expect(second.nextCursor).toBeNull();
  });

  it("rejects an unknown status, a bad window and a foreign cursor with 400", async () => {
    const status = await expectProblem(await call("/appointments?status=lost"), 400);
    expect(fieldsOf(status)).toEqual(["status"]);
    const window = await expectProblem(
      await call("/appointments?from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z"),
      400,
    );
    expect(fieldsOf(window)).toEqual(["to"]);
    // A doctors cursor is [name, id]: not a valid appointments cursor.
    const doctorsPage = await json<Page<unknown>>(await call("/doctors?limit=1"), 200);
    const cursor = await expectProblem(await call(`/appointments?cursor=${doctorsPage.nextCursor}`), 400);
    expect(fieldsOf(cursor)).toEqual(["cursor"]);
  });
});

describe("POST /appointments/:id/cancel", () => {
  it("cancels, frees the slot for a new booking, and is idempotent", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const when = slot(18);
    const booked = await book(doctor.id, patient.id, when);
    const cancelled = await json<Appointment>(await call(`/appointments/${booked.id}/cancel`, { method: "POST" }), 200);
    expect(cancelled.status).toBe("cancelled");
    const again = await json<Appointment>(await call(`/appointments/${booked.id}/cancel`, { method: "POST" }), 200);
    expect(again).toEqual(cancelled);
    await book(doctor.id, patient.id, when);
  });

  it("refuses to cancel a completed appointment with 409", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const booked = await book(doctor.id, patient.id, slot(19));
    await withSql((sql) => sql.query("UPDATE appointments SET status = 'completed' WHERE id = $1", [booked.id]));
    await expectProblem(await call(`/appointments/${booked.id}/cancel`, { method: "POST" }), 409);
    expect(await count("SELECT 1 FROM appointments WHERE id = $1 AND status = 'completed'", [booked.id])).toBe(1);
  });

  it("answers 404 for an unknown appointment", async () => {
    await expectProblem(await call(`/appointments/${crypto.randomUUID()}/cancel`, { method: "POST" }), 404);
  });
});

describe("the overlap rule lives in the database", () => {
  it("refuses an overlapping insert that bypasses the API", async () => {
    const { doctor, patient } = await doctorAndPatient();
    const booked = await book(doctor.id, patient.id, slot(20, 10, 60));
    const err = await withSql((sql) =>
      sql
        .query("INSERT INTO appointments (doctor_id, patient_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)", [
          doctor.id,
          patient.id,
          new Date(Date.parse(booked.startsAt) + 15 * 60_000).toISOString(),
          booked.endsAt,
        ])
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
    );
    expect(err).toMatchObject({ code: "23P01", constraint: "appointments_no_overlap" });
  });
});
