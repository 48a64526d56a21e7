import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RequestDb } from "../../../db/client.ts";
import { deleteExpiredKeys } from "../../../db/queries/idempotency.ts";
import { loadConfig } from "../../../functions/config/index.ts";
import { Deadline } from "../../../core/deadline.ts";
import { postJson, expectProblem, fieldsOf, json } from "../../helpers/api.ts";
import { count, withSql } from "../../helpers/db.ts";
import { workerWith } from "../../helpers/app.ts";
import { asPatient } from "../../helpers/auth.ts";
import { backendWaitingOnLock, whileLocked } from "../../helpers/faults.ts";
import {
  createDoctor,
  createPatient,
  slot,
  unique,
  type BookedAppointment,
  type Doctor,
  type Patient,
} from "../../helpers/factories.ts";

const key = () => `"${crypto.randomUUID()}"`;

function bookWithKey(idempotencyKey: string, body: object, requestId?: string): Promise<Response> {
  return postJson("/appointments", body, {
    headers: { "idempotency-key": idempotencyKey, ...(requestId ? { "x-request-id": requestId } : {}) },
  });
}

async function appointmentsOf(doctorId: string): Promise<number> {
  return count("SELECT 1 FROM appointments WHERE doctor_id = $1", [doctorId]);
}

describe("Idempotency-Key on POST /appointments", () => {
  it("answers a retry with the stored response, marked as a replay, and books once", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const body = { doctorId: doctor.id, patientId: patient.id, ...slot(3) };
    const k = key();

    const first = await bookWithKey(k, body);
    const firstText = await first.text();
    const retry = await bookWithKey(k, body);

    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(firstText);
    expect(retry.headers.get("location")).toBe(first.headers.get("location"));
    expect(retry.headers.get("etag")).toBe(first.headers.get("etag"));
    expect(await appointmentsOf(doctor.id)).toBe(1);
  });

  it("lets 20 concurrent retries with one key book once, all answering the same", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const body = { doctorId: doctor.id, patientId: patient.id, ...slot(3) };
    const k = key();

    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await bookWithKey(k, body);
        return { status: res.status, replayed: res.headers.get("idempotent-replayed"), body: await res.text() };
      }),
    );

    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(201));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(answers.filter((a) => a.replayed === null)).toHaveLength(1);
    expect(answers.filter((a) => a.replayed === "true")).toHaveLength(19);
    expect(await appointmentsOf(doctor.id)).toBe(1);
    expect(
      await count(
        "SELECT 1 FROM appointment_events e JOIN appointments a ON a.id = e.appointment_id WHERE a.doctor_id = $1",
        [doctor.id],
      ),
    ).toBe(1);
  });

  it("refuses the same key with a different body: 422 naming the header, nothing booked", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const k = key();
    await json(await bookWithKey(k, { doctorId: doctor.id, patientId: patient.id, ...slot(3) }), 201);

    const other = await bookWithKey(k, { doctorId: doctor.id, patientId: patient.id, ...slot(4) });

    expect(fieldsOf(await expectProblem(other, 422))).toEqual(["idempotency-key"]);
    expect(await appointmentsOf(doctor.id)).toBe(1);
  });

  it("treats the same body with its fields in another order as the same request", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const { startsAt, endsAt } = slot(3);
    const k = key();
    await json(await bookWithKey(k, { doctorId: doctor.id, patientId: patient.id, startsAt, endsAt }), 201);

    const reordered = await bookWithKey(k, { endsAt, startsAt, patientId: patient.id, doctorId: doctor.id });

    expect(reordered.status).toBe(201);
    expect(reordered.headers.get("idempotent-replayed")).toBe("true");
  });

  it("makes a retry wait for a first attempt still running, and answers 409 + Retry-After past IDEMPOTENCY_WAIT_MS", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const body = JSON.stringify({ doctorId: doctor.id, patientId: patient.id, ...slot(3) });
    const k = key();
    const requestId = `idem-slow-${crypto.randomUUID()}`;
    const worker = workerWith({ IDEMPOTENCY_WAIT_MS: "300" });
    const post = (id: string) =>
      worker.fetch("/appointments", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": k, "x-request-id": id },
        body,
      });

    // The first attempt claims the key, then waits on the doctor's row, locked by another connection.
    const { first, second } = await whileLocked(
      "SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE",
      [doctor.id],
      async (observer) => {
        const first = post(requestId);
        await backendWaitingOnLock(observer, `clinic-edge:${requestId}`);
        const started = Date.now();
        const second = await post(`${requestId}-retry`);
        return { first: { pending: first }, second: { res: second, waitedMs: Date.now() - started } };
      },
    );

    const problem = await expectProblem(second.res, 409);
    expect(fieldsOf(problem)).toEqual(["idempotency-key"]);
    expect(second.res.headers.get("retry-after")).toBe("1");
    expect(second.waitedMs).toBeGreaterThanOrEqual(250);
    const booked = await json<BookedAppointment>(await first.pending, 201);
    const third = await post(`${requestId}-third`);
    expect(third.headers.get("idempotent-replayed")).toBe("true");
    expect((await json<BookedAppointment>(third, 201)).id).toBe(booked.id);
    expect(await appointmentsOf(doctor.id)).toBe(1);
  });

  it("stores nothing for a refused request: the key can be used again once the request is fixed", async () => {
    const [doctor, patient] = [await createDoctor({ active: false }), await createPatient()];
    const other = await createDoctor();
    const k = key();

    await expectProblem(await bookWithKey(k, { doctorId: doctor.id, patientId: patient.id, ...slot(3) }), 422);
    const fixed = await bookWithKey(k, { doctorId: other.id, patientId: patient.id, ...slot(3) });

    expect(fixed.status).toBe(201);
    expect(fixed.headers.get("idempotent-replayed")).toBeNull();
  });

  it("scopes keys per caller: another patient's same key and body is not a replay of the first's answer", async () => {
    const [doctor, alice, bob] = [await createDoctor(), await createPatient(), await createPatient()];
    const body = { doctorId: doctor.id, patientId: alice.id, ...slot(3) };
    const k = key();
    const first = await json<BookedAppointment>(
      await postJson("/appointments", body, { as: asPatient(alice.id), headers: { "idempotency-key": k } }),
      201,
    );

    // Bob's request is judged as his own: booking for Alice is not his to do, and her answer is not his to see.
    const sameBody = await postJson("/appointments", body, {
      as: asPatient(bob.id),
      headers: { "idempotency-key": k },
    });
    expect(sameBody.headers.get("idempotent-replayed")).toBeNull();
    expect(await sameBody.text()).not.toContain(first.id);
    expect(sameBody.status).toBe(403);
    // His own booking under the same key is new, not "that key was used with another body".
    const own = await postJson(
      "/appointments",
      { ...body, patientId: bob.id, ...slot(4) },
      { as: asPatient(bob.id), headers: { "idempotency-key": k } },
    );
    expect(own.status).toBe(201);
    expect(own.headers.get("idempotent-replayed")).toBeNull();
    expect(await appointmentsOf(doctor.id)).toBe(2);
  });

  it("rejects a malformed key with 400 naming the header", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const body = { doctorId: doctor.id, patientId: patient.id, ...slot(3) };
    for (const bad of ["", "two words", `"${"x".repeat(256)}"`, '"unterminated']) {
      expect(fieldsOf(await expectProblem(await bookWithKey(bad, body), 400))).toEqual(["idempotency-key"]);
    }
    expect(await appointmentsOf(doctor.id)).toBe(0);
  });

  it("forgets a key once it has expired: the same key then books anew", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const body = { doctorId: doctor.id, patientId: patient.id, ...slot(3) };
    const k = crypto.randomUUID();
    await json(await bookWithKey(k, body), 201);
    await withSql(async (sql) => {
      await sql.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1", [k]);
      // Frees the slot, so that a second booking of the same body can succeed.
      await sql.query("UPDATE appointments SET status = 'cancelled' WHERE doctor_id = $1", [doctor.id]);
    });

    const again = await bookWithKey(k, body);

    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    expect(await appointmentsOf(doctor.id)).toBe(2);
  });
});

describe("Idempotency-Key on POST /doctors and POST /patients", () => {
  it("replays a doctor's and a patient's creation, and keeps keys apart per operation", async () => {
    const k = key();
    const doctorBody = { name: unique("Dr."), specialty: "cardiology" };
    const patientBody = {
      name: unique("Patient"),
      email: `${crypto.randomUUID()}@example.com`,
      birthDate: "1980-05-17",
    };

    const doctor = await json<Doctor>(
      await postJson("/doctors", doctorBody, { headers: { "idempotency-key": k } }),
      201,
    );
    const patient = await json<Patient>(
      await postJson("/patients", patientBody, { headers: { "idempotency-key": k } }),
      201,
    );
    const doctorAgain = await postJson("/doctors", doctorBody, { headers: { "idempotency-key": k } });
    const patientAgain = await postJson("/patients", patientBody, { headers: { "idempotency-key": k } });

    expect(doctorAgain.headers.get("idempotent-replayed")).toBe("true");
    expect((await json<Doctor>(doctorAgain, 201)).id).toBe(doctor.id);
    expect(patientAgain.headers.get("idempotent-replayed")).toBe("true");
    expect((await json<Patient>(patientAgain, 201)).id).toBe(patient.id);
    expect(await count("SELECT 1 FROM doctors WHERE name = $1", [doctorBody.name])).toBe(1);
    expect(await count("SELECT 1 FROM patients WHERE email = $1", [patientBody.email])).toBe(1);
  });
});

describe("the sweep of expired keys", () => {
  it("deletes expired keys only, at most one batch at a time", async () => {
    const scope = `sweep-test ${crypto.randomUUID()}`;
    await withSql((sql) =>
      sql.query(
        `INSERT INTO idempotency_keys (caller, scope, key, request_hash, response_status, response_body, response_headers, expires_at)
         SELECT '', $1, 'k' || i, 'h', 201, '{}', '{}', now() + CASE WHEN i <= 5 THEN interval '-1 minute' ELSE interval '1 hour' END
         FROM generate_series(1, 8) AS i`,
        [scope],
      ),
    );
    const config = loadConfig(env);
    const db = new RequestDb({ url: config.databaseUrl, ...config.db, applicationName: "clinic-edge:sweep-test" });
    const expired = () => count("SELECT 1 FROM idempotency_keys WHERE scope = $1 AND expires_at <= now()", [scope]);

    try {
      // Other tests' expired keys may be swept too: the batch bound is what is asserted.
      expect(await deleteExpiredKeys(db, Deadline.start(5_000), 3)).toBe(3);
      while ((await expired()) > 0) await deleteExpiredKeys(db, Deadline.start(5_000), 1_000);
    } finally {
      await db.end();
    }

    expect(await count("SELECT 1 FROM idempotency_keys WHERE scope = $1", [scope])).toBe(3);
  });
});
