import { describe, expect, it } from "vitest";
import { call, expectProblem, fieldsOf, json, patchJson, postJson } from "../../helpers/api.ts";
import { withSql } from "../../helpers/db.ts";
import { createDoctor, createPatient, slot, type BookedAppointment, type Patient } from "../../helpers/factories.ts";
import { memberId, standInStats, withOwnBreaker } from "../../helpers/insurance.ts";

interface Eligibility {
  patientId: string;
  insuranceMemberId: string;
  date: string;
  eligibility: "covered" | "not_covered";
}

const day = (daysAhead: number) => slot(daysAhead).startsAt.slice(0, 10);

async function storedEligibility(appointmentId: string): Promise<string | null | undefined> {
  return withSql(async (sql) => {
    const { rows } = await sql.query<{ eligibility: string | null }>(
      "SELECT eligibility FROM appointments WHERE id = $1",
      [appointmentId],
    );
    return rows[0]?.eligibility;
  });
}

describe("a patient's insurance member id", () => {
  it("is optional, kept in upper case, and shown by GET", async () => {
    const without = await createPatient();
    expect(without.insuranceMemberId).toBeNull();
    const id = memberId("OK");
    const insured = await createPatient({ insuranceMemberId: ` ${id.toLowerCase()} ` });
    expect(insured.insuranceMemberId).toBe(id);
    expect(await json<Patient>(await call(`/patients/${insured.id}`), 200)).toEqual(insured);
  });

  it("can be set, changed and cleared with PATCH", async () => {
    const patient = await createPatient();
    const id = memberId("OK");
    expect(
      (await json<Patient>(await patchJson(`/patients/${patient.id}`, { insuranceMemberId: id }), 200))
        .insuranceMemberId,
    ).toBe(id);
    expect(
      (await json<Patient>(await patchJson(`/patients/${patient.id}`, { insuranceMemberId: null }), 200))
        .insuranceMemberId,
    ).toBeNull();
  });

  it.each(["abc", "-LEADING-HYPHEN", "HAS SPACE", "X".repeat(33), 12345])(
    "rejects %j with 400 naming insuranceMemberId",
    async (value) => {
      const problem = await expectProblem(
        await postJson("/patients", {
          name: "P",
          email: `${crypto.randomUUID()}@example.com`,
          birthDate: "1980-01-01",
          insuranceMemberId: value,
        }),
        400,
      );
      expect(fieldsOf(problem)).toEqual(["insuranceMemberId"]);
    },
  );
});

describe("GET /patients/:id/eligibility", () => {
  it("answers the insurer's verdict for the date: covered, not covered, unknown member", async () => {
    const date = day(10);
    for (const [scenario, expected] of [
      ["OK", "covered"],
      ["NC", "not_covered"],
      ["NF", "not_covered"],
    ] as const) {
      const patient = await createPatient({ insuranceMemberId: memberId(scenario) });
      const body = await json<Eligibility>(await call(`/patients/${patient.id}/eligibility?date=${date}`), 200);
      expect(body).toEqual({
        patientId: patient.id,
        insuranceMemberId: patient.insuranceMemberId,
        date,
        eligibility: expected,
      });
      expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(1);
    }
  });

  it("asks about today when no date is given", async () => {
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    const body = await json<Eligibility>(await call(`/patients/${patient.id}/eligibility`), 200);
    expect(body.date).toBe(new Date().toISOString().slice(0, 10));
  });

  it("answers 404 for an unknown patient and 422 naming insuranceMemberId for an uninsured one, without asking", async () => {
    await expectProblem(await call(`/patients/${crypto.randomUUID()}/eligibility`), 404);
    const uninsured = await createPatient();
    const problem = await expectProblem(await call(`/patients/${uninsured.id}/eligibility`), 422);
    expect(fieldsOf(problem)).toEqual(["insuranceMemberId"]);
  });

  it("rejects a malformed date with 400 naming `date`", async () => {
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    for (const query of ["?date=tomorrow", "?date=2027-02-30"]) {
      expect(fieldsOf(await expectProblem(await call(`/patients/${patient.id}/eligibility${query}`), 400))).toEqual([
        "date",
      ]);
    }
  });

  it("retries a failed attempt once (a 503 from the insurer), within the budget", async () => {
    const worker = withOwnBreaker();
    const patient = await createPatient({ insuranceMemberId: memberId("FLAKY") });
    const body = await json<Eligibility>(await worker.fetch(`/patients/${patient.id}/eligibility`), 200);
    expect(body.eligibility).toBe("covered");
    expect(await standInStats(patient.insuranceMemberId!)).toMatchObject({ requests: 2, failed: 1, answered: 1 });
  });

  it("treats a malformed answer as the insurer's failure: 503 problem, not 500, and no retry", async () => {
    const worker = withOwnBreaker();
    const patient = await createPatient({ insuranceMemberId: memberId("BAD") });
    const res = await worker.fetch(`/patients/${patient.id}/eligibility`);
    const problem = await expectProblem(res, 503);
    expect(problem.type).toBe("https://clinic-edge.dev/problems/service-unavailable");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(1);
    expect((await worker.objectStats()).failuresReported).toBe(1);
  });

  it("counts a reset connection as a failure and retries it", async () => {
    const worker = withOwnBreaker();
    const patient = await createPatient({ insuranceMemberId: memberId("RST") });
    await expectProblem(await worker.fetch(`/patients/${patient.id}/eligibility`), 503);
    expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(2);
    expect((await worker.objectStats()).snapshot.consecutiveFailures).toBe(2);
  });

  it("treats a refused API key (401) as a failure, not a verdict, and does not retry it", async () => {
    const worker = withOwnBreaker({ INSURANCE_API_KEY: "wrong-key" });
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    await expectProblem(await worker.fetch(`/patients/${patient.id}/eligibility`), 503);
    // 401 is not retried: the key will not be better a moment later.
    expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(1);
  });
});

describe("booking a patient with an insurance member id", () => {
  it("stores the insurer's answer for the visit's date", async () => {
    const doctor = await createDoctor();
    for (const [scenario, expected] of [
      ["OK", "covered"],
      ["NC", "not_covered"],
    ] as const) {
      const patient = await createPatient({ insuranceMemberId: memberId(scenario) });
      const booked = await json<BookedAppointment>(
        await postJson("/appointments", {
          doctorId: doctor.id,
          patientId: patient.id,
          ...slot(20, scenario === "OK" ? 9 : 11),
        }),
        201,
      );
      expect(booked).toMatchObject({ eligibility: expected, eligibilityReason: null });
      expect(await storedEligibility(booked.id)).toBe(expected);
    }
  });

  it("asks nothing for a patient without one: eligibility null", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const booked = await json<BookedAppointment>(
      await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...slot(21) }),
      201,
    );
    expect(booked).toMatchObject({ eligibility: null, eligibilityReason: null });
    expect(await storedEligibility(booked.id)).toBeNull();
  });

  it("does not ask the insurer about a booking that will be refused", async () => {
    const doctor = await createDoctor({ active: false });
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    await expectProblem(
      await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...slot(22) }),
      422,
    );
    expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(0);
  });

  it("still books when the insurer's answer is malformed: 201, eligibility unknown, reason upstream-failed", async () => {
    const worker = withOwnBreaker();
    const [doctor, patient] = [await createDoctor(), await createPatient({ insuranceMemberId: memberId("BAD") })];
    const booked = await json<BookedAppointment>(
      await worker.fetch("/appointments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ doctorId: doctor.id, patientId: patient.id, ...slot(23) }),
      }),
      201,
    );
    expect(booked).toMatchObject({ eligibility: "unknown", eligibilityReason: "upstream-failed" });
    expect(await storedEligibility(booked.id)).toBe("unknown");
  });

  it("books without asking when no insurer key is configured: unknown, not-configured", async () => {
    const worker = withOwnBreaker({ INSURANCE_API_KEY: "" });
    const [doctor, patient] = [await createDoctor(), await createPatient({ insuranceMemberId: memberId("OK") })];
    const booked = await json<BookedAppointment>(
      await worker.fetch("/appointments", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ doctorId: doctor.id, patientId: patient.id, ...slot(25) }),
      }),
      201,
    );
    expect(booked).toMatchObject({ eligibility: "unknown", eligibilityReason: "not-configured" });
    await expectProblem(await worker.fetch(`/patients/${patient.id}/eligibility`), 503);
    expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(0);
  });

  it("keeps half of the budget for the booking: a slow insurer gives unknown, not a 504", async () => {
    const worker = withOwnBreaker();
    const [doctor, patient] = [await createDoctor(), await createPatient({ insuranceMemberId: memberId("SLOW5000") })];
    const started = Date.now();
    const res = await worker.fetch("/appointments", {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-timeout-ms": "2000" },
      body: JSON.stringify({ doctorId: doctor.id, patientId: patient.id, ...slot(24) }),
    });
    const elapsed = Date.now() - started;
    const booked = await json<BookedAppointment>(res, 201);
    expect(booked).toMatchObject({ eligibility: "unknown", eligibilityReason: "upstream-timeout" });
    expect(await storedEligibility(booked.id)).toBe("unknown");
    // The check was cut at half of what was left when it began: at most 1000 ms of the 2000, and at
    // least half of what remained after the work before it (which took no more than elapsed - check).
    const checkMs = Number(/insurance;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "")?.[1]);
    expect(checkMs).toBeLessThanOrEqual(1_000 + 20);
    expect(checkMs).toBeGreaterThanOrEqual(2_000 - elapsed - 20);
  });
});
