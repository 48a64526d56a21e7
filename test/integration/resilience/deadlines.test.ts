import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Client } from "@neondatabase/serverless";
import { describe, expect, it, vi, onTestFinished } from "vitest";
import worker from "../../../functions/index.ts";
import { newApp } from "../../../functions/app.ts";
import { ORIGIN, call, expectProblem, json } from "../../helpers/api.ts";
import { authHeader } from "../../helpers/auth.ts";
import { count, withSql } from "../../helpers/db.ts";
import { createDoctor, type Doctor } from "../../helpers/factories.ts";
import { settle } from "../../helpers/wait.ts";

const app = (id: string) => `clinic-edge:${id}`;

/** Backends of one request still in Postgres (running, waiting on a lock, or idle). */
const backendsOf = (requestId: string) =>
  count("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [app(requestId)]);

/** Holds a row lock on the doctor from a second connection while `fn` runs, then releases it. */
async function withDoctorLocked<T>(doctorId: string, fn: (holder: Client) => Promise<T>): Promise<T> {
  return withSql(async (holder) => {
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE", [doctorId]);
    try {
      return await fn(holder);
    } finally {
      await holder.query("ROLLBACK");
    }
  });
}

function patchDoctor(id: string, headers: Record<string, string>, signal?: AbortSignal): Request {
  return new Request(`${ORIGIN}/doctors/${id}`, {
    method: "PATCH",
    headers: { "content-type": "application/json", "if-match": "*", ...headers },
    body: JSON.stringify({ specialty: "neurology" }),
    signal,
  });
}

describe("a request's deadline reaches Postgres", () => {
  it("stops a statement stuck on a lock at the budget: 504, and the backend is gone", async () => {
    const doctor = await createDoctor();
    const requestId = `deadline-${crypto.randomUUID()}`;
    await withDoctorLocked(doctor.id, async () => {
      const started = Date.now();
      const res = await call(`/doctors/${doctor.id}`, {
        method: "PATCH",
        headers: {
          "content-type": "application/json",
          "if-match": "*",
          "x-request-timeout-ms": "300",
          "x-request-id": requestId,
        },
        body: JSON.stringify({ specialty: "neurology" }),
      });
      const elapsed = Date.now() - started;
      const problem = await expectProblem(res, 504);
      expect(problem.type).toBe("https://clinic-edge.dev/problems/deadline-exceeded");
      expect(problem.detail).toContain("database");
      // Generous bounds: the precise distribution is measured by bench/deadlines.ts, not asserted.
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(300 + 1_000);
      // While the lock is still held, the app's backend has already stopped waiting on it.
      expect(
        await settle(
          () => backendsOf(requestId),
          (n) => n === 0,
          1_000,
        ),
      ).toBe(0);
    });
    const after = await json<Doctor>(
      await call(`/doctors/${doctor.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json", "if-match": "*" },
        body: JSON.stringify({ specialty: "neurology" }),
      }),
      200,
    );
    expect(after.specialty).toBe("neurology");
  });

  it("caps a client's budget at REQUEST_TIMEOUT_MAX_MS", async () => {
    const doctor = await createDoctor();
    const capped = { ...env, REQUEST_TIMEOUT_MAX_MS: "400" };
    await withDoctorLocked(doctor.id, async () => {
      const ctx = createExecutionContext();
      const started = Date.now();
      const res = await newApp().fetch(
        patchDoctor(doctor.id, { ...(await authHeader()), "x-request-timeout-ms": "60000" }),
        capped,
        ctx,
      );
      expect(res.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(400 + 1_000);
      await waitOnExecutionContext(ctx);
    });
  });

  it("uses REQUEST_TIMEOUT_MS when the client asks for nothing", async () => {
    const doctor = await createDoctor();
    const short = { ...env, REQUEST_TIMEOUT_MS: "300" };
    await withDoctorLocked(doctor.id, async () => {
      const ctx = createExecutionContext();
      const headers = await authHeader();
      const started = Date.now();
      const res = await newApp().fetch(patchDoctor(doctor.id, headers), short, ctx);
      expect(res.status).toBe(504);
      // Cut at the setting's 300 ms, not the default's 10 s (bounds generous for a loaded machine).
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(Date.now() - started).toBeLessThan(300 + 3_000);
      await waitOnExecutionContext(ctx);
    });
  });

  it.each(["abc", "0", "-5", "1.5", ""])(
    "rejects X-Request-Timeout-Ms: %j with 400 naming the header",
    async (value) => {
      const problem = await expectProblem(await call("/healthz", { headers: { "x-request-timeout-ms": value } }), 400);
      expect(problem.errors).toEqual([expect.objectContaining({ field: "X-Request-Timeout-Ms", in: "header" })]);
    },
  );

  it("stops the statement when the client disconnects: 499, backend gone, nothing written", async () => {
    const doctor = await createDoctor({ specialty: "pediatrics" });
    const requestId = `disconnect-${crypto.randomUUID()}`;
    const log = vi.spyOn(console, "log");
    onTestFinished(() => log.mockRestore());
    await withDoctorLocked(doctor.id, async () => {
      const client = new AbortController();
      const ctx = createExecutionContext();
      const pending = worker.fetch(
        patchDoctor(doctor.id, { ...(await authHeader()), "x-request-id": requestId }, client.signal),
        env,
        ctx,
      );
      // Wait until Postgres shows the app's statement waiting on the lock, then hang up.
      const waiting = () =>
        count("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [
          app(requestId),
        ]);
      expect(await settle(waiting, (n) => n === 1, 5_000)).toBe(1);
      client.abort();
      const res = await pending;
      expect(res.status).toBe(499);
      expect(
        await settle(
          () => backendsOf(requestId),
          (n) => n === 0,
          1_000,
        ),
      ).toBe(0);
      await waitOnExecutionContext(ctx);
    });
    expect(log.mock.calls.some((args) => String(args[0]).includes("client closed request"))).toBe(true);
    expect((await json<Doctor>(await call(`/doctors/${doctor.id}`), 200)).specialty).toBe("pediatrics");
  });

  it("leaves no backend behind after a burst where half the requests time out", async () => {
    const [locked, free] = [await createDoctor(), await createDoctor()];
    const burst = `burst-${crypto.randomUUID()}`;
    const errors = vi.spyOn(console, "error");
    onTestFinished(() => errors.mockRestore());
    const auth = await authHeader();
    await withDoctorLocked(locked.id, async () => {
      const statuses: number[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const ctx = createExecutionContext();
        const responses = await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const requestId = `${burst}-${batch}-${i}`;
            const timesOut = i % 2 === 0;
            const req = timesOut
              ? patchDoctor(locked.id, { ...auth, "x-request-timeout-ms": "150", "x-request-id": requestId })
              : new Request(`${ORIGIN}/doctors/${free.id}`, { headers: { "x-request-id": requestId } });
            return worker.fetch(req, env, ctx);
          }),
        );
        statuses.push(...responses.map((r) => r.status));
        await Promise.all(responses.map((r) => r.arrayBuffer()));
        await waitOnExecutionContext(ctx);
      }
      expect(statuses.filter((s) => s === 504)).toHaveLength(100);
      expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    });
    const leftover = () =>
      count("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE $1", [`clinic-edge:${burst}-%`]);
    // The pool's idle count after end() is zero: nothing of the burst may remain.
    expect(await settle(leftover, (n) => n === 0, 2_000)).toBe(0);
    expect(errors).not.toHaveBeenCalled();
  });
});
