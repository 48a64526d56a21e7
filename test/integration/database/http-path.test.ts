import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, inject, it } from "vitest";
import { RequestDb, type QueryPath } from "../../../db/client.ts";
import { appointments, doctors } from "../../../db/schema/index.ts";
import { newApp } from "../../../functions/app.ts";
import { loadConfig } from "../../../functions/config/index.ts";
import { Deadline } from "../../../core/deadline.ts";
import { ORIGIN, call, expectProblem, json } from "../../helpers/api.ts";
import { authHeader } from "../../helpers/auth.ts";
import { bridgeStats, count, withSql } from "../../helpers/db.ts";
import {
  book,
  createDoctor,
  createPatient,
  slot,
  unique,
  type Appointment,
  type Patient,
} from "../../helpers/factories.ts";
import { dbTimingOf } from "../../helpers/server-timing.ts";
import { sqlEndpointStats } from "../../helpers/sql-endpoint.ts";
import { settle } from "../../helpers/wait.ts";

const app = (requestId: string) => `clinic-edge:${requestId}`;

/** The SQLSTATE of a database error, whether Drizzle wrapped it (WebSocket path) or not (HTTP batches). */
function sqlStateOf(err: unknown): string | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

describe("the HTTP path", () => {
  it("answers a single-statement request in one HTTP round trip, with no WebSocket", async () => {
    const patient = await createPatient();
    const requestId = `one-trip-${crypto.randomUUID()}`;
    const res = await call(`/patients/${patient.id}`, { headers: { "x-request-id": requestId } });
    expect((await json<Patient>(res, 200)).id).toBe(patient.id);

    // The statement and the set_config that carries the deadline travel together.
    expect(await sqlEndpointStats(app(requestId))).toMatchObject({ requests: 1, batches: 1, statements: 2 });
    expect((await bridgeStats(app(requestId))).connections).toBe(0);
    expect(dbTimingOf(res)).toMatchObject({ queries: 1, roundTrips: 1, opened: 0 });
  });

  it("cancels an appointment (an update and a read) in one round trip", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const booked = await book(doctor.id, patient.id, slot(9, 10));
    const requestId = `cancel-${crypto.randomUUID()}`;
    const res = await call(`/appointments/${booked.id}/cancel`, {
      method: "POST",
      headers: { "x-request-id": requestId },
    });
    expect((await json<Appointment>(res, 200)).status).toBe("cancelled");

    expect(await sqlEndpointStats(app(requestId))).toMatchObject({ requests: 1, statements: 3 });
    expect(dbTimingOf(res)).toMatchObject({ queries: 2, roundTrips: 1, opened: 0 });
  });

  it("sends the Postgres error through: a duplicate email is still a 409", async () => {
    const patient = await createPatient();
    const res = await call("/patients", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Dup", email: patient.email.toUpperCase(), birthDate: "1990-01-01" }),
    });
    expect(res.status).toBe(409);
  });
});

describe.each<QueryPath>(["http", "ws"])("a batch on the %s path", (path) => {
  function requestDb(requestId: string): RequestDb {
    const config = loadConfig({ ...env, DB_QUERY_PATH: path });
    return new RequestDb({ url: config.databaseUrl, ...config.db, applicationName: app(requestId) });
  }

  it("returns each statement's result, in order", async () => {
    const name = unique("Dr. Batch");
    const db = requestDb(`batch-${crypto.randomUUID()}`);
    try {
      const [inserted, found] = await db.batch(
        Deadline.start(5_000),
        (q) =>
          [
            q.insert(doctors).values({ name, specialty: "batching" }).returning(),
            q.select({ name: doctors.name }).from(doctors).where(eq(doctors.name, name)),
          ] as const,
      );
      expect(inserted).toEqual([expect.objectContaining({ name, specialty: "batching", active: true })]);
      // The read sees the insert before it: one transaction, statements in order.
      expect(found).toEqual([{ name }]);
    } finally {
      await db.end();
    }
  });

  it("is all or nothing: a failing statement rolls back the ones before it", async () => {
    const name = unique("Dr. Rolled Back");
    const db = requestDb(`batch-fail-${crypto.randomUUID()}`);
    try {
      const batch = db.batch(
        Deadline.start(5_000),
        (q) =>
          [
            q.insert(doctors).values({ name, specialty: "batching" }),
            // Refused by the foreign key: no such doctor or patient.
            q.insert(appointments).values({
              doctorId: crypto.randomUUID(),
              patientId: crypto.randomUUID(),
              startsAt: new Date(Date.now() + 86_400_000),
              endsAt: new Date(Date.now() + 90_000_000),
            }),
          ] as const,
      );
      expect(
        sqlStateOf(
          await batch.then(
            () => undefined,
            (err: unknown) => err,
          ),
        ),
      ).toBe("23503");
    } finally {
      await db.end();
    }
    expect(await count("SELECT 1 FROM doctors WHERE name = $1", [name])).toBe(0);
  });
});

/** Holds a row lock on the doctor from a second connection while `fn` runs, then releases it. */
async function withDoctorLocked<T>(doctorId: string, fn: () => Promise<T>): Promise<T> {
  return withSql(async (holder) => {
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE", [doctorId]);
    try {
      return await fn();
    } finally {
      await holder.query("ROLLBACK");
    }
  });
}

function patchDoctor(id: string, requestId: string, auth: Record<string, string>): Request {
  return new Request(`${ORIGIN}/doctors/${id}`, {
    method: "PATCH",
    headers: {
      ...auth,
      "content-type": "application/json",
      "if-match": "*",
      "x-request-timeout-ms": "300",
      "x-request-id": requestId,
    },
    body: JSON.stringify({ specialty: "neurology" }),
  });
}

describe.each<QueryPath>(["http", "ws"])("the deadline on the %s path", (path) => {
  it("stops a statement stuck on a lock at the budget: 504, and the statement is gone from Postgres", async () => {
    const doctor = await createDoctor();
    const requestId = `${path}-deadline-${crypto.randomUUID()}`;
    // This endpoint does not cancel a statement whose client left (Neon's does): on the HTTP path
    // only the Worker's own server-side limit, set_config('statement_timeout', ...), can stop it.
    const endpoint = inject("sqlEndpointWithoutCancel");
    const lenient = { ...env, DB_QUERY_PATH: path, DB_HTTP_ENDPOINT: endpoint };
    await withDoctorLocked(doctor.id, async () => {
      const ctx = createExecutionContext();
      const started = Date.now();
      const res = await newApp().fetch(patchDoctor(doctor.id, requestId, await authHeader()), lenient, ctx);
      const elapsed = Date.now() - started;
      expect((await expectProblem(res, 504)).detail).toContain("database");
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(300 + 1_000);
      await waitOnExecutionContext(ctx);

      // While the lock is still held, nothing of the request is left in pg_stat_activity.
      const left = () => count("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [app(requestId)]);
      expect(await settle(left, (n) => n === 0, 1_000)).toBe(0);
      if (path === "http") {
        expect(await sqlEndpointStats(app(requestId), endpoint)).toMatchObject({ statementTimeouts: 1, cancelled: 0 });
      }
    });
  });
});
