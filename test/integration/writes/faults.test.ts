import { describe, expect, inject, it } from "vitest";
import { READINESS_TTL_MS } from "../../../functions/routes/health/index.ts";
import { call, expectProblem, json, postJson } from "../../helpers/api.ts";
import { count } from "../../helpers/db.ts";
import { workerWith } from "../../helpers/app.ts";
import { backendWaitingOnLock, outageVars, switchDatabase, whileLocked } from "../../helpers/faults.ts";
import {
  book,
  createDoctor,
  createPatient,
  slot,
  type Appointment,
  type BookedAppointment,
  type Patient,
} from "../../helpers/factories.ts";

describe("when the database connection drops mid-transaction", () => {
  it("answers 503 + Retry-After, commits nothing, and the retry with the same key books exactly once", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const body = { doctorId: doctor.id, patientId: patient.id, ...slot(3) };
    const key = crypto.randomUUID();
    const requestId = `fault-kill-${crypto.randomUUID()}`;

    // The booking's transaction has claimed its key and waits on the doctor's row: kill its backend then.
    const dropped = await whileLocked(
      "SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE",
      [doctor.id],
      async (observer) => {
        const booking = postJson("/appointments", body, {
          headers: { "idempotency-key": key, "x-request-id": requestId },
        });
        const pid = await backendWaitingOnLock(observer, `clinic-edge:${requestId}`);
        await observer.query("SELECT pg_terminate_backend($1)", [pid]);
        return booking;
      },
    );

    // The round trip's answer was lost: from its side the Worker cannot tell that Postgres rolled back.
    expect((await expectProblem(dropped, 503)).writeOutcome).toBe("unknown");
    expect(dropped.headers.get("retry-after")).toBe("1");
    expect(await count("SELECT 1 FROM appointments WHERE doctor_id = $1", [doctor.id])).toBe(0);
    expect(await count("SELECT 1 FROM idempotency_keys WHERE key = $1", [key])).toBe(0);

    const retry = await postJson("/appointments", body, { headers: { "idempotency-key": key } });
    const booked = await json<BookedAppointment>(retry, 201);
    const again = await postJson("/appointments", body, { headers: { "idempotency-key": key } });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await count("SELECT 1 FROM appointments WHERE doctor_id = $1", [doctor.id])).toBe(1);
    expect(
      await count("SELECT 1 FROM appointment_events WHERE appointment_id = $1 AND event = 'booked'", [booked.id]),
    ).toBe(1);
  });
});

describe("when a write's answer is lost after Postgres committed it", () => {
  it('answers 504 with writeOutcome "unknown", and the write is there', async () => {
    const lagging = inject("lagging");
    // Half the round trip before the statements, half after their COMMIT: the deadline falls between.
    const worker = workerWith({ DB_HTTP_ENDPOINT: lagging.sqlEndpoint, DB_QUERY_PATH: "http" });
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const booked = await book(doctor.id, patient.id, slot(3));

    const res = await worker.fetch(`/appointments/${booked.id}`, {
      method: "PATCH",
      headers: {
        "content-type": "application/json",
        "if-match": `"${booked.version}"`,
        "x-request-timeout-ms": String(lagging.rttMs * 0.75),
      },
      body: JSON.stringify(slot(4)),
    });

    const problem = await expectProblem(res, 504);
    expect(problem.writeOutcome).toBe("unknown");
    const moved = await json<Appointment>(await call(`/appointments/${booked.id}`), 200);
    expect(moved).toMatchObject({ ...slot(4), version: booked.version + 1 });
  });
});

describe("when the database is unreachable", () => {
  for (const path of ["http", "ws"] as const) {
    it(`fails fast with 503 + Retry-After on the ${path} path, and recovers on its own when it is back`, async () => {
      const worker = workerWith(outageVars(path));
      const patient = await createPatient();
      const doctor = await createDoctor();
      const read = () => worker.fetch(`/patients/${patient.id}`);
      const book = () =>
        worker.fetch("/appointments", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ doctorId: doctor.id, patientId: patient.id, ...slot(3) }),
        });
      expect((await json<Patient>(await read(), 200)).id).toBe(patient.id);

      await switchDatabase("down");
      try {
        const started = Date.now();
        const [readDown, bookDown] = [await read(), await book()];
        const elapsed = Date.now() - started;
        expect((await expectProblem(readDown, 503)).writeOutcome).toBeUndefined();
        expect((await expectProblem(bookDown, 503)).writeOutcome).toBe("not-applied");
        expect(readDown.headers.get("retry-after")).toBe("1");
        // Well inside DB_CONNECT_TIMEOUT_MS (5 s): a refused connection is not waited on.
        expect(elapsed).toBeLessThan(5_000);
      } finally {
        await switchDatabase("up");
      }

      expect((await json<Patient>(await read(), 200)).id).toBe(patient.id);
      expect((await book()).status).toBe(201);
      expect(await count("SELECT 1 FROM appointments WHERE doctor_id = $1", [doctor.id])).toBe(1);
    });
  }

  // Here rather than with the other operations endpoints: the outage switch is shared, and this
  // file's tests take turns with it.
  it("GET /readyz answers 503 while the database is down, and 200 once it is back (each within its 1 s cache)", async () => {
    const worker = workerWith(outageVars("http"));
    const pastCache = () => new Promise((resolve) => setTimeout(resolve, READINESS_TTL_MS + 100));
    expect((await worker.fetch("/readyz")).status).toBe(200);
    await switchDatabase("down");
    try {
      await pastCache();
      const problem = await expectProblem(await worker.fetch("/readyz"), 503);
      expect(problem.detail).toContain("database");
    } finally {
      await switchDatabase("up");
    }
    await pastCache();
    expect(await json(await worker.fetch("/readyz"), 200)).toEqual({ status: "ready" });
  });
});
