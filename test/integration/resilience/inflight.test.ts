import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newApp } from "../../../functions/app.ts";
import worker from "../../../functions/index.ts";
import { countsByKind } from "../../../core/inflight.ts";
import { ORIGIN, expectProblem, json } from "../../helpers/api.ts";
import { authHeader } from "../../helpers/auth.ts";
import { count, withSql } from "../../helpers/db.ts";
import { createDoctor, createPatient, doctorWithSchedule } from "../../helpers/factories.ts";
import { memberId, withOwnBreaker } from "../../helpers/insurance.ts";
import { settle } from "../../helpers/wait.ts";

const allZero = (counts: Record<string, number>) => Object.values(counts).every((n) => n === 0);

describe("leak detection", () => {
  it("sees every in-flight gauge return to zero after bursts with timeouts and disconnects", async () => {
    const [locked, free] = [await createDoctor(), await doctorWithSchedule()];
    const date = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    const baseline = await count("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'clinic-edge:leak-%'");
    await withSql(async (holder) => {
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE", [locked.id]);
      const auth = await authHeader();
      for (let round = 0; round < 3; round++) {
        const ctx = createExecutionContext();
        const hangUp = new AbortController();
        const requests = Array.from({ length: 12 }, async (_, i) => {
          const headers = {
            ...auth,
            "x-request-id": `leak-${round}-${i}`,
            "content-type": "application/json",
            "if-match": "*",
          };
          const req =
            i % 3 === 0
              ? new Request(`${ORIGIN}/doctors/${locked.id}`, {
                  method: "PATCH",
                  headers: { ...headers, "x-request-timeout-ms": "150" },
                  body: JSON.stringify({ specialty: "neurology" }),
                })
              : i % 3 === 1
                ? new Request(`${ORIGIN}/doctors/${locked.id}`, {
                    method: "PATCH",
                    headers,
                    body: JSON.stringify({ specialty: "neurology" }),
                    signal: hangUp.signal,
                  })
                : new Request(`${ORIGIN}/doctors/${free.id}/availability?date=${date}`, { headers });
          return worker.fetch(req, env, ctx);
        });
        // Let the statements reach the lock, then hang up on the second third.
        await new Promise((resolve) => setTimeout(resolve, 300));
        hangUp.abort();
        const statuses = (await Promise.all(requests)).map((r) => r.status).sort();
        expect(statuses).toEqual([
          ...Array<number>(4).fill(200),
          ...Array<number>(4).fill(499),
          ...Array<number>(4).fill(504),
        ]);
        await waitOnExecutionContext(ctx);
      }
      await holder.query("ROLLBACK");
    });
    expect(await settle(() => Promise.resolve(countsByKind()), allZero, 2_000)).toEqual({
      request: 0,
      "db-connection": 0,
      upstream: 0,
      "do-wait": 0,
      "breaker-hop": 0,
      background: 0,
    });
    const backends = () => count("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'clinic-edge:leak-%'");
    expect(await settle(backends, (n) => n === baseline, 2_000)).toBe(baseline);
  });

  it("sees breaker hops (sync, failure reports in and after the request) return to zero after insurer calls cut at their deadline", async () => {
    const worker = withOwnBreaker({ BREAKER_FAILURE_THRESHOLD: "100", INSURANCE_MAX_ATTEMPTS: "1" });
    const patient = await createPatient({ insuranceMemberId: memberId("SLOW3000") });
    const statuses = await Promise.all(
      Array.from({ length: 4 }, () =>
        worker
          .fetch(`/patients/${patient.id}/eligibility`, { headers: { "x-request-timeout-ms": "300" } })
          .then((r) => r.status),
      ),
    );
    expect(statuses).toEqual([504, 504, 504, 504]);
    // The hops did happen: the object counted every failure.
    expect((await worker.objectStats()).failuresReported).toBe(4);
    expect(await settle(() => Promise.resolve(countsByKind()), allZero, 2_000)).toMatchObject({
      "breaker-hop": 0,
      background: 0,
    });
  });

  it("lists what is in flight on /debug/inflight when DEBUG_ENDPOINTS is on, 404 otherwise", async () => {
    const ctx = createExecutionContext();
    const headers = await authHeader();
    const on = await newApp().fetch(
      new Request(`${ORIGIN}/debug/inflight`, { headers }),
      { ...env, DEBUG_ENDPOINTS: "true" },
      ctx,
    );
    const body = await json<{
      counts: Record<string, number>;
      items: Array<{ kind: string; label: string; ageMs: number }>;
    }>(on, 200);
    // The request asking is itself in flight.
    expect(body.items).toContainEqual(expect.objectContaining({ kind: "request", label: "GET /debug/inflight" }));
    await expectProblem(await newApp().fetch(new Request(`${ORIGIN}/debug/inflight`, { headers }), env, ctx), 404);
    await waitOnExecutionContext(ctx);
  });
});
