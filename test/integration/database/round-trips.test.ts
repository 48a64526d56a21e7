/**
 * Every endpoint's database cost, counted where it crosses the wire: the /sql stand-in's requests
 * and the bridge's exchanges and connections for the request's application_name
 * (`clinic-edge:<request id>`), and the response's own Server-Timing. One round trip and no
 * WebSocket, except where docs/database.md says why not.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RequestDb } from "../../../db/client.ts";
import { Deadline } from "../../../core/deadline.ts";
import { loadConfig } from "../../../functions/config/index.ts";
import { runLoad, type LoadRequest } from "../../../functions/resilience/coalescer/loaders.ts";
import { call } from "../../helpers/api.ts";
import { asPatient, type Caller } from "../../helpers/auth.ts";
import { bridgeStats } from "../../helpers/db.ts";
import { book, createDoctor, createPatient, slot } from "../../helpers/factories.ts";
import { memberId } from "../../helpers/insurance.ts";
import { dbTimingOf } from "../../helpers/server-timing.ts";
import { sqlEndpointStats } from "../../helpers/sql-endpoint.ts";

interface Cost {
  status: number;
  /** As the stand-ins counted them. */
  roundTrips: number;
  connections: number;
  /** As the response reported them. */
  reported: number | undefined;
}

/** One request with an id of its own, and what it cost the database. */
async function costOf(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  as?: Caller,
): Promise<Cost> {
  const requestId = `rt-${crypto.randomUUID()}`;
  const init = {
    method,
    headers: { "x-request-id": requestId, "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(as ? { as } : {}),
  };
  const res = await call(path, init);
  await res.arrayBuffer();
  const app = `clinic-edge:${requestId}`;
  const [http, ws] = await Promise.all([sqlEndpointStats(app), bridgeStats(app)]);
  return {
    status: res.status,
    roundTrips: http.requests + ws.roundTrips,
    connections: ws.connections,
    reported: dbTimingOf(res)?.totalRoundTrips,
  };
}

const ONE = { roundTrips: 1, connections: 0, reported: 1 };
const key = () => ({ "idempotency-key": crypto.randomUUID() });

describe("every write costs one round trip and no WebSocket", () => {
  it("POST /doctors and POST /patients, with and without an Idempotency-Key", async () => {
    const doctor = { name: "Dr. Round Trip", specialty: "cardiology" };
    expect(await costOf("POST", "/doctors", doctor)).toEqual({ status: 201, ...ONE });
    expect(await costOf("POST", "/doctors", doctor, key())).toEqual({ status: 201, ...ONE });
    const patient = () => ({
      name: "Round Trip",
      email: `${crypto.randomUUID()}@example.com`,
      birthDate: "1980-01-01",
    });
    expect(await costOf("POST", "/patients", patient())).toEqual({ status: 201, ...ONE });
    expect(await costOf("POST", "/patients", patient(), key())).toEqual({ status: 201, ...ONE });
  });

  it("a replayed create: one round trip, the answer read back in the same statement", async () => {
    const headers = key();
    const doctor = { name: "Dr. Replay", specialty: "cardiology" };
    await costOf("POST", "/doctors", doctor, headers);
    expect(await costOf("POST", "/doctors", doctor, headers)).toEqual({ status: 201, ...ONE });
  });

  it("PATCH /doctors/:id, POST /doctors/:id/deactivate, PUT /doctors/:id/schedule, PATCH /patients/:id", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const ifMatch = { "if-match": "*" };
    expect(await costOf("PATCH", `/doctors/${doctor.id}`, { name: "Dr. Renamed" }, ifMatch)).toEqual({
      status: 200,
      ...ONE,
    });
    const schedule = { intervals: [{ weekday: 1, startsAt: "09:00", endsAt: "12:00", slotMinutes: 30 }] };
    expect(await costOf("PUT", `/doctors/${doctor.id}/schedule`, schedule)).toEqual({ status: 200, ...ONE });
    expect(await costOf("POST", `/doctors/${doctor.id}/deactivate`)).toEqual({ status: 200, ...ONE });
    expect(await costOf("PATCH", `/patients/${patient.id}`, { phone: "+15550100" }, ifMatch)).toEqual({
      status: 200,
      ...ONE,
    });
  });

  it("PATCH /patients/:id changing insuranceMemberId: recorded, and refused (taken, or the day's changes spent), in one round trip", async () => {
    const [holder, patient] = [await createPatient({ insuranceMemberId: memberId("OK") }), await createPatient()];
    const ifMatch = { "if-match": "*" };
    const as = asPatient(patient.id);
    const change = () => costOf("PATCH", `/patients/${patient.id}`, { insuranceMemberId: memberId("OK") }, ifMatch, as);
    expect(await change()).toEqual({ status: 200, ...ONE });
    const taken = { insuranceMemberId: holder.insuranceMemberId };
    expect(await costOf("PATCH", `/patients/${patient.id}`, taken, ifMatch, as)).toEqual({ status: 409, ...ONE });
    // INSURANCE_MEMBER_ID_CHANGES_PER_DAY is 3 in the tests' configuration.
    expect(await change()).toEqual({ status: 200, ...ONE });
    expect(await change()).toEqual({ status: 200, ...ONE });
    expect(await change()).toEqual({ status: 429, ...ONE });
  });

  it("POST /appointments for a patient without insurance, with and without a key, and its replay", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const headers = key();
    const body = { doctorId: doctor.id, patientId: patient.id, ...slot(3) };
    expect(await costOf("POST", "/appointments", body, headers)).toEqual({ status: 201, ...ONE });
    expect(await costOf("POST", "/appointments", body, headers)).toEqual({ status: 201, ...ONE });
    const other = { doctorId: doctor.id, patientId: patient.id, ...slot(4) };
    expect(await costOf("POST", "/appointments", other)).toEqual({ status: 201, ...ONE });
  });

  it("a refused booking (overlap, inactive doctor) also costs one round trip", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const when = slot(3);
    await book(doctor.id, patient.id, when);
    const overlap = { doctorId: doctor.id, patientId: patient.id, ...when };
    expect(await costOf("POST", "/appointments", overlap, key())).toEqual({ status: 409, ...ONE });
    const inactive = await createDoctor({ active: false });
    const refused = { doctorId: inactive.id, patientId: patient.id, ...slot(3) };
    expect(await costOf("POST", "/appointments", refused, key())).toEqual({ status: 422, ...ONE });
  });

  it("POST /appointments for an insured patient: two, the insurer asked in between (its member id is in the database)", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient({ insuranceMemberId: memberId("OK") })];
    const body = { doctorId: doctor.id, patientId: patient.id, ...slot(3) };
    expect(await costOf("POST", "/appointments", body, key())).toEqual({
      status: 201,
      roundTrips: 2,
      connections: 0,
      reported: 2,
    });
  });

  it("reschedule, cancel and complete, as an admin and as the owning patient", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const mine = await book(doctor.id, patient.id, slot(3));
    const ifMatch = { "if-match": "*" };
    for (const as of [undefined, asPatient(patient.id)]) {
      expect(await costOf("PATCH", `/appointments/${mine.id}`, slot(5, 9 + (as ? 1 : 0)), ifMatch, as)).toEqual({
        status: 200,
        ...ONE,
      });
    }
    // Not begun yet: 409, decided in the same round trip.
    expect(await costOf("POST", `/appointments/${mine.id}/complete`)).toEqual({ status: 409, ...ONE });
    expect(await costOf("POST", `/appointments/${mine.id}/cancel`, undefined, {}, asPatient(patient.id))).toEqual({
      status: 200,
      ...ONE,
    });
  });

  it("someone else's appointment is not found, in the same one round trip", async () => {
    const [doctor, patient, stranger] = [await createDoctor(), await createPatient(), await createPatient()];
    const theirs = await book(doctor.id, patient.id, slot(3));
    const as = asPatient(stranger.id);
    expect(await costOf("PATCH", `/appointments/${theirs.id}`, slot(5), { "if-match": "*" }, as)).toEqual({
      status: 404,
      ...ONE,
    });
    expect(await costOf("POST", `/appointments/${theirs.id}/cancel`, undefined, {}, as)).toEqual({
      status: 404,
      ...ONE,
    });
  });
});

describe("every read costs one round trip and no WebSocket", () => {
  it("the lists, a patient, an appointment, its history and the public schedule", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const appointment = await book(doctor.id, patient.id, slot(3));
    for (const path of [
      `/doctors?specialty=cardiology&limit=5`,
      `/doctors?include=appointments&limit=5&from=${slot(3, 0).startsAt}&to=${slot(5, 0).startsAt}`,
      `/patients?limit=5`,
      `/patients/${patient.id}`,
      `/appointments?doctorId=${doctor.id}`,
      `/appointments/${appointment.id}`,
      `/appointments/${appointment.id}/history`,
      `/doctors/${doctor.id}/schedule`,
    ]) {
      expect({ path, ...(await costOf("GET", path)) }).toEqual({ path, status: 200, ...ONE });
    }
  });

  it("GET /patients/:id/eligibility: one, before the insurer is asked", async () => {
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    expect(await costOf("GET", `/patients/${patient.id}/eligibility`)).toEqual({ status: 200, ...ONE });
  });

  it("the coalesced loads (GET /doctors/:id, availability): one each, in the doctor's coalescer", async () => {
    const doctor = await createDoctor();
    const config = loadConfig(env);
    const loads: LoadRequest[] = [
      { loader: "doctor", doctorId: doctor.id },
      { loader: "availability", doctorId: doctor.id, date: "2031-01-01" },
    ];
    for (const load of loads) {
      const applicationName = `clinic-edge:rt-load-${crypto.randomUUID()}`;
      const db = new RequestDb({ url: config.databaseUrl, ...config.db, applicationName });
      try {
        await runLoad(load, db, Deadline.start(5_000));
        expect({ loader: load.loader, roundTrips: db.stats.roundTrips, opened: db.stats.connectionsOpened }).toEqual({
          loader: load.loader,
          roundTrips: 1,
          opened: 0,
        });
        expect((await sqlEndpointStats(applicationName)).requests).toBe(1);
      } finally {
        await db.end();
      }
    }
  });
});
