/**
 * The insurer's circuit breaker, whose state every isolate shares through a Durable Object. Each
 * test has a breaker of its own (withOwnBreaker) and picks the insurer's behaviour by member id, so
 * calls that reached the insurer are counted by the stand-in itself.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { newApp } from "../../../functions/app.ts";
import { MIN_ATTEMPT_MS, queryEligibility } from "../../../functions/insurance/client.ts";
import { loadConfig } from "../../../functions/config/index.ts";
import { Deadline, DeadlineExceededError } from "../../../core/deadline.ts";
import type { Breaker } from "../../../functions/resilience/breaker/object.ts";
import { CircuitOpenError, breakerCounters, type BreakerCall } from "../../../functions/resilience/breaker/circuit.ts";
import { LocalBreaker } from "../../../functions/resilience/breaker/local.ts";
import { SharedBreaker } from "../../../functions/resilience/breaker/client.ts";
import { ORIGIN, expectProblem, json } from "../../helpers/api.ts";
import { asPatient, authHeader } from "../../helpers/auth.ts";
import { withSql } from "../../helpers/db.ts";
import { createDoctor, createPatient, slot, type BookedAppointment, type Patient } from "../../helpers/factories.ts";
import {
  breakerTimingOf,
  memberId,
  sleep,
  standInStats,
  withOwnBreaker,
  type EnvOverrides,
} from "../../helpers/insurance.ts";

type Worker = ReturnType<typeof withOwnBreaker>;

/** Three failures open it for 500 ms; one attempt per query, so each request is one call. */
const OPEN_MS = 500;
const FAST: EnvOverrides = {
  BREAKER_FAILURE_THRESHOLD: "3",
  BREAKER_OPEN_MS: String(OPEN_MS),
  BREAKER_HALF_OPEN_PROBES: "1",
  INSURANCE_MAX_ATTEMPTS: "1",
};

const eligibilityOf = (worker: Worker, patient: Patient) => worker.fetch(`/patients/${patient.id}/eligibility`);

/** Opens the worker's breaker with `threshold` failing calls; returns the failing patient. */
async function trip(worker: Worker, threshold: number): Promise<Patient> {
  const failing = await createPatient({ insuranceMemberId: memberId("ERR") });
  for (let i = 0; i < threshold; i++) await expectProblem(await eligibilityOf(worker, failing), 503);
  expect((await worker.objectStats()).snapshot.state).toBe("open");
  return failing;
}

function bookingRequest(doctorId: string, patientId: string, daysAhead: number): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ doctorId, patientId, ...slot(daysAhead) }),
  };
}

/** A fresh isolate's view of `worker`'s breaker: a new instance knows nothing until it asks the object. */
function freshIsolateView(worker: Worker): SharedBreaker {
  const config = loadConfig(worker.env);
  return new SharedBreaker({
    name: worker.name,
    settings: worker.args.settings,
    viewTtlMs: config.breaker.viewTtlMs,
    probeLeaseMs: config.insurance.timeoutMs + 1_000,
    namespace: worker.env.BREAKER,
  });
}

describe("the insurer's circuit breaker", () => {
  it("opens after N consecutive failures; the next call fails fast without reaching the insurer", async () => {
    const worker = withOwnBreaker(FAST);
    const failing = await trip(worker, 3);
    expect((await standInStats(failing.insuranceMemberId!)).requests).toBe(3);

    const healthy = await createPatient({ insuranceMemberId: memberId("OK") });
    const res = await eligibilityOf(worker, healthy);
    await expectProblem(res, 503);
    expect(breakerTimingOf(res)).toEqual({ state: "open", scope: "shared" });
    expect((await standInStats(healthy.insuranceMemberId!)).requests).toBe(0);
    expect((await standInStats(failing.insuranceMemberId!)).requests).toBe(3);
  });

  it("answers 503 with Retry-After from the breaker's remaining open time", async () => {
    const worker = withOwnBreaker({ ...FAST, BREAKER_OPEN_MS: "30000" });
    await trip(worker, 3);
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    const res = await eligibilityOf(worker, patient);
    const problem = await expectProblem(res, 503);
    expect(problem.detail).toContain("not being called");
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(25);
    expect(retryAfter).toBeLessThanOrEqual(30);
  });

  it("does not count failures that a success interrupted", async () => {
    const worker = withOwnBreaker(FAST);
    const failing = await createPatient({ insuranceMemberId: memberId("ERR") });
    const healthy = await createPatient({ insuranceMemberId: memberId("OK") });
    for (let round = 0; round < 3; round++) {
      await expectProblem(await eligibilityOf(worker, failing), 503);
      await expectProblem(await eligibilityOf(worker, failing), 503);
      expect((await eligibilityOf(worker, healthy)).status).toBe(200);
    }
    expect((await worker.objectStats()).snapshot).toMatchObject({ state: "closed", consecutiveFailures: 0 });
  });

  it("a fresh isolate learns the open state from the object and makes no call at all", async () => {
    const worker = withOwnBreaker({ ...FAST, BREAKER_OPEN_MS: "30000" });
    await trip(worker, 3);
    const member = memberId("OK");
    const config = loadConfig(worker.env);
    const fresh = freshIsolateView(worker);
    const objectCallsBefore = breakerCounters(worker.name).objectCalls;

    const ctx = createExecutionContext();
    const call: BreakerCall = { deadline: Deadline.start(5_000), background: (_name, task) => ctx.waitUntil(task()) };
    for (let i = 0; i < 5; i++) {
      const asked = queryEligibility(
        config.insurance,
        { memberId: member, serviceDate: "2027-01-04" },
        call.deadline,
        (attempt) => fresh.execute(call, attempt),
      );
      await expect(asked).rejects.toBeInstanceOf(CircuitOpenError);
    }
    await waitOnExecutionContext(ctx);
    expect((await standInStats(member)).requests).toBe(0);
    // One round trip to the object (the first sync); the four refusals after it cost nothing.
    expect(breakerCounters(worker.name).objectCalls - objectCallsBefore).toBe(1);
    expect(fresh.view()).toMatchObject({ state: "open", scope: "shared" });
  });

  it("adds no round trip to the object for healthy calls", async () => {
    const worker = withOwnBreaker(FAST);
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    expect((await eligibilityOf(worker, patient)).status).toBe(200);
    const afterFirst = breakerCounters(worker.name).objectCalls;
    for (let i = 0; i < 5; i++) expect((await eligibilityOf(worker, patient)).status).toBe(200);
    expect(breakerCounters(worker.name).objectCalls).toBe(afterFirst);
    const stats = await worker.objectStats();
    expect(stats.successesReported + stats.failuresReported).toBe(0);
  });

  it("reports only the first success after a failure", async () => {
    const worker = withOwnBreaker(FAST);
    const failing = await createPatient({ insuranceMemberId: memberId("ERR") });
    const healthy = await createPatient({ insuranceMemberId: memberId("OK") });
    await expectProblem(await eligibilityOf(worker, failing), 503);
    for (let i = 0; i < 4; i++) expect((await eligibilityOf(worker, healthy)).status).toBe(200);
    expect(await worker.objectStats()).toMatchObject({ failuresReported: 1, successesReported: 1 });
  });

  it("after the open time lets one probe through; its success closes the circuit", async () => {
    const worker = withOwnBreaker(FAST);
    await trip(worker, 3);
    await sleep(OPEN_MS + 50);
    // Slow enough that the concurrent requests arrive while the probe is still out.
    const probe = await createPatient({ insuranceMemberId: memberId("SLOW300") });
    const others = await Promise.all(
      Array.from({ length: 4 }, () => createPatient({ insuranceMemberId: memberId("OK") })),
    );
    const [probeRes, ...otherRes] = await Promise.all([
      eligibilityOf(worker, probe),
      ...others.map(async (p) => {
        await sleep(50);
        return eligibilityOf(worker, p);
      }),
    ]);
    expect(probeRes.status).toBe(200);
    expect(otherRes.map((r) => r.status)).toEqual([503, 503, 503, 503]);
    for (const p of others) expect((await standInStats(p.insuranceMemberId!)).requests).toBe(0);
    expect((await worker.objectStats()).snapshot.state).toBe("closed");
    expect((await eligibilityOf(worker, others[0]!)).status).toBe(200);
  });

  it("lets at most BREAKER_HALF_OPEN_PROBES probes through at once, fleet-wide", async () => {
    const worker = withOwnBreaker({ ...FAST, BREAKER_HALF_OPEN_PROBES: "2" });
    await trip(worker, 3);
    await sleep(OPEN_MS + 50);
    const patients = await Promise.all(
      Array.from({ length: 6 }, () => createPatient({ insuranceMemberId: memberId("SLOW300") })),
    );
    const statuses = (await Promise.all(patients.map((p) => eligibilityOf(worker, p)))).map((r) => r.status);
    const reached = await Promise.all(patients.map(async (p) => (await standInStats(p.insuranceMemberId!)).requests));
    expect(reached.reduce((a, b) => a + b, 0)).toBe(2);
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 503)).toHaveLength(4);
    const stats = await worker.objectStats();
    expect(stats.snapshot.state).toBe("closed");
    expect(stats.probesGranted).toBe(2);
  });

  it("a failed probe opens the circuit again for another open period", async () => {
    const worker = withOwnBreaker(FAST);
    const failing = await trip(worker, 3);
    await sleep(OPEN_MS + 50);
    await expectProblem(await eligibilityOf(worker, failing), 503);
    expect((await standInStats(failing.insuranceMemberId!)).requests).toBe(4);
    const stats = await worker.objectStats();
    expect(stats.snapshot.state).toBe("open");
    expect(stats.transitions).toMatchObject({ open: 2, "half-open": 1, closed: 0 });

    const healthy = await createPatient({ insuranceMemberId: memberId("OK") });
    await expectProblem(await eligibilityOf(worker, healthy), 503);
    expect((await standInStats(healthy.insuranceMemberId!)).requests).toBe(0);
  });

  it("books during an outage: 201 with eligibility unknown (breaker-open), the appointment stored", async () => {
    const worker = withOwnBreaker({ ...FAST, BREAKER_OPEN_MS: "30000" });
    await trip(worker, 3);
    const [doctor, patient] = [await createDoctor(), await createPatient({ insuranceMemberId: memberId("OK") })];
    const res = await worker.fetch("/appointments", bookingRequest(doctor.id, patient.id, 30));
    const booked = await json<BookedAppointment>(res, 201);
    expect(booked).toMatchObject({ status: "scheduled", eligibility: "unknown", eligibilityReason: "breaker-open" });
    expect(breakerTimingOf(res)?.state).toBe("open");
    expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(0);
    const stored = await withSql(
      async (sql) =>
        (await sql.query<{ eligibility: string }>("SELECT eligibility FROM appointments WHERE id = $1", [booked.id]))
          .rows,
    );
    expect(stored).toEqual([{ eligibility: "unknown" }]);
  });

  it("cuts a slow call at the request's deadline: 504 naming the upstream, not counted against the insurer", async () => {
    const worker = withOwnBreaker(FAST);
    const patient = await createPatient({ insuranceMemberId: memberId("SLOW3000") });
    const started = Date.now();
    const res = await worker.fetch(`/patients/${patient.id}/eligibility`, {
      headers: { "x-request-timeout-ms": "300" },
    });
    const elapsed = Date.now() - started;
    const problem = await expectProblem(res, 504);
    expect(problem.detail).toContain("upstream");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect((await standInStats(patient.insuranceMemberId!)).requests).toBe(1);
    const stats = await worker.objectStats();
    expect(stats.failuresReported).toBe(0);
    expect(stats.snapshot.consecutiveFailures).toBe(0);
  });

  it("stays closed for everyone when one patient's checks are all cut by their own short budget", async () => {
    const worker = withOwnBreaker({ BREAKER_FAILURE_THRESHOLD: "5", BREAKER_OPEN_MS: "30000" });
    const attacker = await createPatient({ insuranceMemberId: memberId("SLOW3000") });
    const headers = { ...(await authHeader(asPatient(attacker.id))), "x-request-timeout-ms": "150" };
    for (let i = 0; i < 10; i++) {
      await expectProblem(await worker.fetch(`/patients/${attacker.id}/eligibility`, { headers }), 504);
    }
    // The calls did reach the insurer: the budget left room for an attempt, and each was cut by it.
    expect((await standInStats(attacker.insuranceMemberId!)).requests).toBeGreaterThanOrEqual(10);
    expect((await worker.objectStats()).snapshot).toMatchObject({ state: "closed", consecutiveFailures: 0 });

    const other = await createPatient({ insuranceMemberId: memberId("OK") });
    const res = await worker.fetch(`/patients/${other.id}/eligibility`);
    expect((await json<{ eligibility: string }>(res, 200)).eligibility).toBe("covered");
  });

  it("gives the half-open probe only to a caller whose budget can wait a whole insurer attempt", async () => {
    const worker = withOwnBreaker(FAST);
    await trip(worker, 3);
    await sleep(OPEN_MS + 50);
    const healthy = await createPatient({ insuranceMemberId: memberId("OK") });
    // INSURANCE_TIMEOUT_MS is 2 s: a 300 ms budget could only ever abandon the probe.
    const short = await worker.fetch(`/patients/${healthy.id}/eligibility`, {
      headers: { "x-request-timeout-ms": "300" },
    });
    await expectProblem(short, 503);
    expect(short.headers.get("server-timing")).toContain('desc="breaker-open"');
    expect((await standInStats(healthy.insuranceMemberId!)).requests).toBe(0);
    expect((await worker.objectStats()).probesGranted).toBe(0);

    expect((await eligibilityOf(worker, healthy)).status).toBe(200);
    const stats = await worker.objectStats();
    expect(stats.probesGranted).toBe(1);
    expect(stats.snapshot.state).toBe("closed");
  });

  it("does not start an attempt, nor count a failure, with less budget left than an attempt needs", async () => {
    const worker = withOwnBreaker(FAST);
    const config = loadConfig(worker.env);
    // A slow insurer: an attempt started anyway would be cut at the deadline and count as a failure.
    const member = memberId("SLOW3000");
    const breaker = freshIsolateView(worker);
    const background: Array<Promise<unknown>> = [];
    const call: BreakerCall = {
      deadline: Deadline.start(MIN_ATTEMPT_MS - 10),
      background: (_name, task) => void background.push(task()),
    };
    const asked = queryEligibility(
      config.insurance,
      { memberId: member, serviceDate: "2027-01-04" },
      call.deadline,
      (a) => breaker.execute(call, a),
    );
    await expect(asked).rejects.toBeInstanceOf(DeadlineExceededError);
    await Promise.allSettled(background);
    const stats = await worker.objectStats();
    expect(stats.failuresReported).toBe(0);
    expect(stats.snapshot.consecutiveFailures).toBe(0);
    expect((await standInStats(member)).requests).toBe(0);
  });

  it("falls back to an isolate-local breaker when the object cannot be reached, and counts it", async () => {
    const worker = withOwnBreaker(FAST);
    // Fault injection at the binding: every stub request fails, as when the object's host is down.
    const unreachable = {
      idFromName: (name: string) => worker.env.BREAKER.idFromName(name),
      get: (): never => {
        throw new Error("Durable Object unavailable");
      },
    } as unknown as DurableObjectNamespace<Breaker>;
    const env = { ...worker.env, BREAKER: unreachable };
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    const failing = await createPatient({ insuranceMemberId: memberId("ERR") });
    const app = newApp();
    const headers = await authHeader();
    const fetchVia = async (p: Patient) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`${ORIGIN}/patients/${p.id}/eligibility`, { headers }), env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };

    const res = await fetchVia(patient);
    expect(res.status).toBe(200);
    expect(breakerTimingOf(res)).toEqual({ state: "closed", scope: "local" });
    // The local breaker still protects the insurer: three failures open it, the fourth call is refused here.
    for (let i = 0; i < 3; i++) expect((await fetchVia(failing)).status).toBe(503);
    expect((await fetchVia(failing)).status).toBe(503);
    expect((await standInStats(failing.insuranceMemberId!)).requests).toBe(3);
    const counters = breakerCounters(worker.name);
    expect(counters.objectErrors).toBeGreaterThanOrEqual(1);
    expect(counters.fallbackCalls).toBe(5);
  });

  it("with BREAKER_SCOPE=isolate, each isolate rediscovers the outage on its own (why the state is shared)", async () => {
    const worker = withOwnBreaker({ ...FAST, BREAKER_SCOPE: "isolate", BREAKER_OPEN_MS: "30000" });
    const failing = await createPatient({ insuranceMemberId: memberId("ERR") });
    for (let i = 0; i < 4; i++) await expectProblem(await eligibilityOf(worker, failing), 503);
    expect((await standInStats(failing.insuranceMemberId!)).requests).toBe(3);

    const config = loadConfig(worker.env);
    const otherIsolate = new LocalBreaker(worker.name, worker.args.settings);
    const call: BreakerCall = { deadline: Deadline.start(5_000), background: () => undefined };
    const member = failing.insuranceMemberId!;
    for (let i = 0; i < 4; i++) {
      await expect(
        queryEligibility(config.insurance, { memberId: member, serviceDate: "2027-01-04" }, call.deadline, (attempt) =>
          otherIsolate.execute(call, attempt),
        ),
      ).rejects.toThrow();
    }
    expect((await standInStats(member)).requests).toBe(6);
  });
});
