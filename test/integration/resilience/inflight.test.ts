import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newApp } from "../../../functions/app.ts";
import worker from "../../../functions/index.ts";
import { countsByKind, type InflightKind } from "../../../core/inflight.ts";
import { ORIGIN, expectProblem, json } from "../../helpers/api.ts";
import { authHeader } from "../../helpers/auth.ts";
import { count, withSql } from "../../helpers/db.ts";
import { createDoctor, createPatient, doctorWithSchedule } from "../../helpers/factories.ts";
import { memberId, sleep, withOwnBreaker } from "../../helpers/insurance.ts";
import { settle } from "../../helpers/wait.ts";

const allZero = (counts: Record<string, number>) => Object.values(counts).every((n) => n === 0);

/** A Durable Object binding whose every call waits `ms` first (fault injection at the binding). */
function heldHops<T extends Rpc.DurableObjectBranded>(ns: DurableObjectNamespace<T>, ms: number) {
  const held = {
    idFromName: (name: string) => ns.idFromName(name),
    get: (id: DurableObjectId) =>
      new Proxy(ns.get(id), {
        get(stub, key) {
          const member: unknown = Reflect.get(stub, key);
          if (typeof member !== "function") return member;
          return async (...args: unknown[]) => {
            await sleep(ms);
            // Reflect.apply: on an RPC stub, `member.apply` would be a remote method of that name.
            return Reflect.apply(member as (...a: unknown[]) => unknown, stub, args);
          };
        },
      }),
  };
  return held as unknown as DurableObjectNamespace<T>;
}

/** For each kind, whether it was seen in flight at all (a failure names the kind that never was). */
const seenInFlight = (peak: Record<InflightKind, number>, kinds: InflightKind[]) =>
  Object.fromEntries(kinds.map((kind) => [kind, peak[kind] > 0]));

/**
 * The most of each kind seen in flight at once while `work` runs, sampled every millisecond: a kind
 * that is never tracked stays at 0 here, so "returns to zero" cannot pass by never rising.
 */
async function peaksDuring(work: () => Promise<void>): Promise<Record<InflightKind, number>> {
  const peak = countsByKind();
  const sample = () => {
    for (const [kind, n] of Object.entries(countsByKind()) as Array<[InflightKind, number]>)
      peak[kind] = Math.max(peak[kind], n);
  };
  const timer = setInterval(sample, 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  sample();
  return peak;
}

describe("leak detection", () => {
  it("sees every in-flight gauge return to zero after bursts with timeouts and disconnects", async () => {
    const [locked, free] = [await createDoctor(), await doctorWithSchedule()];
    const date = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    const baseline = await count("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'clinic-edge:leak-%'");
    const peak = await peaksDuring(() =>
      withSql(async (holder) => {
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
      }),
    );
    // Held at the lock: the requests and their connections; the availability reads wait on the Coalescer.
    expect(seenInFlight(peak, ["request", "db-connection", "do-wait"])).toEqual({
      request: true,
      "db-connection": true,
      "do-wait": true,
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

  it("sees breaker hops (sync, failure reports in and after the request) return to zero after insurer calls cut by its own timeout", async () => {
    // The insurer's own per-call timeout (100 ms, within the 300 ms budget) cuts each call: a failure
    // of the insurer's, reported to the breaker (a call cut by the caller's deadline would not be).
    const worker = withOwnBreaker({
      BREAKER_FAILURE_THRESHOLD: "100",
      INSURANCE_MAX_ATTEMPTS: "1",
      INSURANCE_TIMEOUT_MS: "100",
    });
    const patient = await createPatient({ insuranceMemberId: memberId("SLOW3000") });
    // Each hop to the breaker's object held 20 ms at the binding, long enough to be sampled in flight.
    const env = { ...worker.env, BREAKER: heldHops(worker.env.BREAKER, 20) };
    const app = newApp();
    const headers = { ...(await authHeader()), "x-request-timeout-ms": "300" };
    let statuses: number[] = [];
    const peak = await peaksDuring(async () => {
      const ctx = createExecutionContext();
      statuses = await Promise.all(
        Array.from({ length: 4 }, () =>
          Promise.resolve(
            app.fetch(new Request(`${ORIGIN}/patients/${patient.id}/eligibility`, { headers }), env, ctx),
          ),
        ),
      ).then((all) => all.map((r) => r.status));
      await waitOnExecutionContext(ctx);
    });
    expect(statuses).toEqual([503, 503, 503, 503]);
    // The insurer calls, the hops to the breaker and the failure reports after the response were all in flight.
    expect(seenInFlight(peak, ["upstream", "breaker-hop", "background"])).toEqual({
      upstream: true,
      "breaker-hop": true,
      background: true,
    });
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
