/**
 * DEV_DB_RTT_MS: the stand-ins put the database a round trip away, and what a request pays for it
 * is counted as round trips (Server-Timing db-rt, /metrics db_round_trips_per_request).
 */
import { describe, expect, inject, it } from "vitest";
import { json } from "../../helpers/api.ts";
import { workerWith } from "../../helpers/app.ts";
import { createDoctor, uniqueSpecialty, type Doctor } from "../../helpers/factories.ts";
import { dbTimingOf } from "../../helpers/server-timing.ts";

const distant = inject("distant");
const far = (path: "http" | "ws") =>
  workerWith({ DB_HTTP_ENDPOINT: distant.sqlEndpoint, DB_WS_PROXY: distant.wsProxy, DB_QUERY_PATH: path });

describe("a database DEV_DB_RTT_MS away", () => {
  it("costs one round trip's time per HTTP round trip, and the response counts the round trip", async () => {
    const doctor = await createDoctor({ specialty: uniqueSpecialty() });
    const worker = far("http");
    const started = Date.now();
    const res = await worker.fetch(`/doctors?specialty=${encodeURIComponent(doctor.specialty)}`);
    const elapsed = Date.now() - started;
    expect((await json<{ data: Doctor[] }>(res, 200)).data.map((d) => d.id)).toEqual([doctor.id]);
    expect(dbTimingOf(res)).toMatchObject({ totalRoundTrips: 1, roundTrips: 1, opened: 0 });
    expect(elapsed).toBeGreaterThanOrEqual(distant.rttMs);
  });

  it("costs the WebSocket path a round trip per exchange: BEGIN, the statement and COMMIT after the connection", async () => {
    const doctor = await createDoctor({ specialty: uniqueSpecialty() });
    const worker = far("ws");
    const started = Date.now();
    const res = await worker.fetch(`/doctors?specialty=${encodeURIComponent(doctor.specialty)}`);
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(dbTimingOf(res)).toMatchObject({ totalRoundTrips: 3, roundTrips: 0, opened: 1 });
    // The handshake and the Postgres startup are exchanges too, on top of the three.
    expect(elapsed).toBeGreaterThanOrEqual(4 * distant.rttMs);
  });

  it("reports round trips per route in /metrics", async () => {
    const doctor = await createDoctor({ specialty: uniqueSpecialty() });
    const worker = far("http");
    const sum = () => worker.metric("db_round_trips_per_request_sum", 'method="GET",route="/doctors"');
    const count = () => worker.metric("db_round_trips_per_request_count", 'method="GET",route="/doctors"');
    const [sumBefore, countBefore] = [await sum(), await count()];
    await worker.fetch(`/doctors?specialty=${encodeURIComponent(doctor.specialty)}`);
    await worker.fetch(`/doctors?specialty=${encodeURIComponent(doctor.specialty)}`);
    expect(await count()).toBe(countBefore + 2);
    expect(await sum()).toBe(sumBefore + 2);
  });
});
