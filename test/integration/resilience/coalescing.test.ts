import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Client } from "@neondatabase/serverless";
import { describe, expect, it } from "vitest";
import worker from "../../../functions/index.ts";
import { newApp } from "../../../functions/app.ts";
import { ORIGIN, call, expectProblem, fieldsOf, json, postJson } from "../../helpers/api.ts";
import { count, withSql } from "../../helpers/db.ts";
import {
  EVERY_MORNING,
  book,
  createDoctor,
  createPatient,
  doctorWithSchedule,
  slot,
  type Doctor,
} from "../../helpers/factories.ts";
import { sqlEndpointStats } from "../../helpers/sql-endpoint.ts";
import { settle } from "../../helpers/wait.ts";

interface Availability {
  doctorId: string;
  date: string;
  slots: Array<{ startsAt: string; endsAt: string }>;
}

/** A day `daysAhead` from now, as YYYY-MM-DD (UTC). */
function day(daysAhead: number): string {
  return slot(daysAhead).startsAt.slice(0, 10);
}

const availabilityPath = (doctorId: string, date: string) => `/doctors/${doctorId}/availability?date=${date}`;

function outcomeOf(res: Response): string | undefined {
  return /coalescer;desc="(\w+)"/.exec(res.headers.get("server-timing") ?? "")?.[1];
}

/**
 * Loads of one day's availability that reached Postgres: the /sql endpoint's round trips for the
 * coalescer's connection name, which carries the day; other files' requests carry other names.
 */
async function loadsOf(date: string): Promise<number> {
  return (await sqlEndpointStats(`clinic-edge:coalescer:availability:${date}`)).requests;
}

/** Holds ACCESS EXCLUSIVE on doctor_schedules (only this file reads it) so loads wait on the lock. */
async function withSchedulesLocked<T>(fn: (holder: Client) => Promise<T>): Promise<T> {
  return withSql(async (holder) => {
    await holder.query("BEGIN");
    await holder.query("LOCK TABLE doctor_schedules IN ACCESS EXCLUSIVE MODE");
    try {
      return await fn(holder);
    } finally {
      await holder.query("ROLLBACK");
    }
  });
}

const loadsWaitingOnLock = () =>
  count(
    "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'clinic-edge:coalescer:%' AND wait_event_type = 'Lock'",
  );

describe("GET /doctors/:id/availability", () => {
  it("lists the free slots of the day: working intervals minus booked slots", async () => {
    const doctor = await doctorWithSchedule();
    const patient = await createPatient();
    const date = day(5);
    const booked = await book(doctor.id, patient.id, slot(5, 10, 60));

    const availability = await json<Availability>(await call(availabilityPath(doctor.id, date)), 200);
    expect(availability.doctorId).toBe(doctor.id);
    expect(availability.date).toBe(date);
    expect(availability.slots.map((s) => s.startsAt.slice(11, 16))).toEqual(["09:00", "09:30", "11:00", "11:30"]);
    expect(availability.slots.some((s) => s.startsAt === booked.startsAt)).toBe(false);
  });

  it("is empty for an inactive doctor and 404 for an unknown one", async () => {
    const doctor = await doctorWithSchedule();
    await call(`/doctors/${doctor.id}/deactivate`, { method: "POST" });
    expect((await json<Availability>(await call(availabilityPath(doctor.id, day(3))), 200)).slots).toEqual([]);
    await expectProblem(await call(availabilityPath(crypto.randomUUID(), day(3))), 404);
  });

  it("rejects a missing or malformed date with 400 naming `date`", async () => {
    const doctor = await createDoctor();
    for (const query of ["", "?date=tomorrow", "?date=2027-02-30"]) {
      const problem = await expectProblem(await call(`/doctors/${doctor.id}/availability${query}`), 400);
      expect(fieldsOf(problem)).toEqual(["date"]);
    }
  });
});

describe("PUT /doctors/:id/schedule", () => {
  it("replaces the weekly schedule and GET returns it", async () => {
    const doctor = await createDoctor();
    const intervals = [
      { weekday: 1, startsAt: "08:00", endsAt: "12:00", slotMinutes: 20 },
      { weekday: 1, startsAt: "13:00", endsAt: "17:00", slotMinutes: 30 },
    ];
    const put = await call(`/doctors/${doctor.id}/schedule`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ intervals }),
    });
    expect(await json(put, 200)).toEqual({ doctorId: doctor.id, intervals });
    expect(await json(await call(`/doctors/${doctor.id}/schedule`), 200)).toEqual({ doctorId: doctor.id, intervals });
  });

  it("rejects overlapping intervals and bad times with 400 naming the field", async () => {
    const doctor = await createDoctor();
    const problem = await expectProblem(
      await call(`/doctors/${doctor.id}/schedule`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          intervals: [
            { weekday: 2, startsAt: "09:00", endsAt: "12:00" },
            { weekday: 2, startsAt: "11:00", endsAt: "13:00" },
            { weekday: 9, startsAt: "25:00", endsAt: "08:00" },
          ],
        }),
      }),
      400,
    );
    expect(fieldsOf(problem).sort()).toEqual(["intervals.1.startsAt", "intervals.2.startsAt", "intervals.2.weekday"]);
  });

  it("answers 404 for an unknown doctor", async () => {
    await expectProblem(
      await call(`/doctors/${crypto.randomUUID()}/schedule`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(EVERY_MORNING),
      }),
      404,
    );
  });
});

describe("the coalescer (one Durable Object per doctor)", () => {
  it("serves 100 concurrent requests for a cold key with exactly one query to Postgres", async () => {
    const doctor = await doctorWithSchedule();
    const date = day(9);
    const before = await loadsOf(date);

    const responses = await Promise.all(Array.from({ length: 100 }, () => call(availabilityPath(doctor.id, date))));
    const bodies = await Promise.all(responses.map((r) => json<Availability>(r, 200)));

    expect((await loadsOf(date)) - before).toBe(1);
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]?.slots).toHaveLength(6);
    const outcomes = responses.map(outcomeOf);
    expect(outcomes.filter((o) => o === "load")).toHaveLength(1);
    expect(outcomes.every((o) => o === "load" || o === "coalesced" || o === "hit")).toBe(true);
  });

  it("keeps the load going for everyone when the first caller disconnects", async () => {
    const doctor = await doctorWithSchedule();
    const date = day(10);
    const before = await loadsOf(date);
    const results = await withSchedulesLocked(async () => {
      const first = new AbortController();
      const ctx = createExecutionContext();
      const firstResponse = worker.fetch(
        new Request(ORIGIN + availabilityPath(doctor.id, date), { signal: first.signal }),
        env,
        ctx,
      );
      expect(await settle(loadsWaitingOnLock, (n) => n >= 1, 5_000)).toBeGreaterThanOrEqual(1);
      const others = Array.from({ length: 99 }, () => call(availabilityPath(doctor.id, date)));
      first.abort();
      expect((await firstResponse).status).toBe(499);
      await waitOnExecutionContext(ctx);
      return others;
    });
    const bodies = await Promise.all((await Promise.all(results)).map((r) => json<Availability>(r, 200)));
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]?.slots).toHaveLength(6);
    expect((await loadsOf(date)) - before).toBe(1);
  });

  it("answers a caller with a short deadline 504 while the load completes for the others", async () => {
    const doctor = await doctorWithSchedule();
    const date = day(11);
    // Wrapped in an object: returning the bare promise would make the lock holder wait for it.
    const { patient } = await withSchedulesLocked(async () => {
      const patient = call(availabilityPath(doctor.id, date));
      expect(await settle(loadsWaitingOnLock, (n) => n >= 1, 5_000)).toBeGreaterThanOrEqual(1);
      const hasty = await call(availabilityPath(doctor.id, date), { headers: { "x-request-timeout-ms": "200" } });
      const problem = await expectProblem(hasty, 504);
      expect(problem.detail).toContain("coalescer");
      return { patient };
    });
    expect((await json<Availability>(await patient, 200)).slots).toHaveLength(6);
  });

  it("hands a failed load's error to every waiter, caches nothing, and loads again next time", async () => {
    const doctor = await doctorWithSchedule();
    const date = day(12);
    const waiting = await withSchedulesLocked(async (holder) => {
      const waiters = Array.from({ length: 10 }, () => call(availabilityPath(doctor.id, date)));
      expect(await settle(loadsWaitingOnLock, (n) => n >= 1, 5_000)).toBeGreaterThanOrEqual(1);
      // Give every waiter time to arrive: ten separate loads would show up here as more than one.
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Kill the load's connection: a genuine load failure, not a timeout.
      const { rows } = await holder.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [`clinic-edge:coalescer:availability:${date}`],
      );
      expect(rows).toHaveLength(1);
      return Promise.all(waiters);
    });
    for (const res of waiting) await expectProblem(res, 503);
    // One load, shared: its failure reached every waiter.
    expect(waiting.map(outcomeOf).sort()).toEqual([...Array<string>(9).fill("coalesced"), "load"]);
    const retry = await call(availabilityPath(doctor.id, date));
    expect(outcomeOf(retry)).toBe("load");
    expect((await json<Availability>(retry, 200)).slots).toHaveLength(6);
  });

  it("drops a doctor's cached availability when a slot is booked, and only that doctor's", async () => {
    const [a, b] = [await doctorWithSchedule(), await doctorWithSchedule()];
    const patient = await createPatient();
    const date = day(13);
    for (const d of [a, b]) await json(await call(availabilityPath(d.id, date)), 200);
    expect(outcomeOf(await call(availabilityPath(a.id, date)))).toBe("hit");

    const booked = await book(a.id, patient.id, slot(13, 9));
    const afterBooking = await call(availabilityPath(a.id, date));
    expect(outcomeOf(afterBooking)).toBe("load");
    expect((await json<Availability>(afterBooking, 200)).slots.map((s) => s.startsAt)).not.toContain(booked.startsAt);

    expect(outcomeOf(await call(availabilityPath(b.id, date)))).toBe("hit");

    await call(`/appointments/${booked.id}/cancel`, { method: "POST" });
    const afterCancel = await json<Availability>(await call(availabilityPath(a.id, date)), 200);
    expect(afterCancel.slots.map((s) => s.startsAt)).toContain(booked.startsAt);
  });

  it("never serves a doctor stale after PATCH or a schedule change", async () => {
    const doctor = await doctorWithSchedule();
    expect((await json<Doctor>(await call(`/doctors/${doctor.id}`), 200)).specialty).toBe("cardiology");
    const patch = await call(`/doctors/${doctor.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "if-match": "*" },
      body: JSON.stringify({ specialty: "oncology" }),
    });
    expect(patch.status).toBe(200);
    expect((await json<Doctor>(await call(`/doctors/${doctor.id}`), 200)).specialty).toBe("oncology");

    const date = day(14);
    expect((await json<Availability>(await call(availabilityPath(doctor.id, date)), 200)).slots).toHaveLength(6);
    await call(`/doctors/${doctor.id}/schedule`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ intervals: [] }),
    });
    expect((await json<Availability>(await call(availabilityPath(doctor.id, date)), 200)).slots).toEqual([]);
  });

  it("falls back to a direct load when the coalescer cannot be reached", async () => {
    const doctor = await doctorWithSchedule();
    const unreachable = {
      idFromName: (name: string) => env.COALESCER.idFromName(name),
      get: () => ({
        load: () => Promise.reject(new Error("Durable Object is overloaded")),
        invalidate: () => Promise.reject(new Error("Durable Object is overloaded")),
      }),
    } as unknown as typeof env.COALESCER;
    const ctx = createExecutionContext();
    const res = await newApp().fetch(
      new Request(ORIGIN + availabilityPath(doctor.id, day(15))),
      { ...env, COALESCER: unreachable },
      ctx,
    );
    expect(outcomeOf(res)).toBe("fallback");
    expect((await json<Availability>(res, 200)).slots).toHaveLength(6);
    await waitOnExecutionContext(ctx);
  });
});

describe("booking through the API invalidates before answering", () => {
  it("a client that books then reads sees its slot gone", async () => {
    const doctor = await doctorWithSchedule();
    const patient = await createPatient();
    const date = day(16);
    await json(await call(availabilityPath(doctor.id, date)), 200);
    const res = await postJson("/appointments", { doctorId: doctor.id, patientId: patient.id, ...slot(16, 11) });
    expect(res.status).toBe(201);
    const slots = (await json<Availability>(await call(availabilityPath(doctor.id, date)), 200)).slots;
    expect(slots.map((s) => s.startsAt.slice(11, 16))).not.toContain("11:00");
  });
});
