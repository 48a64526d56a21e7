import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { QueryPath } from "../../../db/client.ts";
import { newApp } from "../../../functions/app.ts";
import { encodeCursor } from "../../../functions/http/pagination.ts";
import { ORIGIN, call, json } from "../../helpers/api.ts";
import { authHeader } from "../../helpers/auth.ts";
import {
  book,
  createDoctor,
  createPatient,
  slot,
  uniqueSpecialty,
  type Appointment,
  type Doctor,
  type Page,
  type Patient,
} from "../../helpers/factories.ts";
import { dbTimingOf, type DbTiming } from "../../helpers/server-timing.ts";

const envs: Record<QueryPath, Env> = {
  http: { ...env, DB_QUERY_PATH: "http" },
  ws: { ...env, DB_QUERY_PATH: "ws" },
};

interface Answer {
  status: number;
  contentType: string | null;
  body: unknown;
  timing: DbTiming | undefined;
}

async function readOn(path: QueryPath, url: string): Promise<Answer> {
  const ctx = createExecutionContext();
  const res = await newApp().fetch(new Request(ORIGIN + url, { headers: await authHeader() }), envs[path], ctx);
  const body = await res.json<Record<string, unknown>>();
  await waitOnExecutionContext(ctx);
  // A problem names its own request; everything else must match to the byte.
  delete body.requestId;
  return { status: res.status, contentType: res.headers.get("content-type"), body, timing: dbTimingOf(res) };
}

interface Seed {
  specialty: string;
  doctors: Doctor[];
  patient: Patient;
  appointments: Appointment[];
  secondPageCursor: string;
}

const q = encodeURIComponent;
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * Every read endpoint that goes to Postgres on the request's own path (GET /doctors/{id} goes through
 * the coalescer), with the ids its answer must hold, in order (a list's rows, or the one resource).
 */
const READS: Array<[name: string, url: (s: Seed) => string, status: number, ids: (s: Seed) => string[]]> = [
  ["GET /doctors by specialty", (s) => `/doctors?specialty=${q(s.specialty)}`, 200, (s) => idsOf(s.doctors)],
  [
    "GET /doctors by active flag",
    (s) => `/doctors?specialty=${q(s.specialty)}&active=false`,
    200,
    (s) => [s.doctors[1]!.id],
  ],
  [
    "GET /doctors, second page by cursor",
    (s) => `/doctors?specialty=${q(s.specialty)}&limit=1&cursor=${s.secondPageCursor}`,
    200,
    (s) => [s.doctors[1]!.id],
  ],
  [
    "GET /doctors?include=appointments",
    (s) =>
      `/doctors?specialty=${q(s.specialty)}&include=appointments&from=${slot(3, 0).startsAt}&to=${slot(5, 0).startsAt}`,
    200,
    (s) => idsOf(s.doctors),
  ],
  ["GET /patients/{id}", (s) => `/patients/${s.patient.id}`, 200, (s) => [s.patient.id]],
  ["GET /patients/{id} for an unknown id", () => `/patients/${crypto.randomUUID()}`, 404, () => []],
  ["GET /patients?email=", (s) => `/patients?email=${q(s.patient.email.toUpperCase())}`, 200, (s) => [s.patient.id]],
  // Starts just before this test's patient, so rows other test files insert meanwhile stay out of the page.
  [
    "GET /patients by name",
    (s) => `/patients?limit=1&cursor=${encodeCursor([s.patient.name, NIL_UUID])}`,
    200,
    (s) => [s.patient.id],
  ],
  ["GET /appointments/{id}", (s) => `/appointments/${s.appointments[0]!.id}`, 200, (s) => [s.appointments[0]!.id]],
  ["GET /appointments/{id} for an unknown id", () => `/appointments/${crypto.randomUUID()}`, 404, () => []],
  [
    "GET /appointments by doctor and window",
    (s) => `/appointments?doctorId=${s.doctors[0]!.id}&from=${slot(3, 0).startsAt}&to=${slot(5, 0).startsAt}`,
    200,
    (s) => idsOf(s.appointments.slice(0, 2)),
  ],
  [
    "GET /appointments by patient and status",
    (s) => `/appointments?patientId=${s.patient.id}&status=cancelled`,
    200,
    (s) => [s.appointments[2]!.id],
  ],
  ["GET /readyz", () => "/readyz", 200, () => []],
];

const idsOf = (rows: Array<{ id: string }>) => rows.map((r) => r.id);

/** The ids an answer holds: a page's rows, or the resource itself; none for a problem or /readyz. */
function answeredIds(body: unknown): string[] {
  const { data, id } = body as { data?: Array<{ id: string }>; id?: string };
  if (data) return idsOf(data);
  return typeof id === "string" ? [id] : [];
}

describe("the read endpoints answer the same on the HTTP and the WebSocket path", () => {
  let seed: Seed;

  beforeAll(async () => {
    const specialty = uniqueSpecialty();
    const doctors = [
      await createDoctor({ specialty, name: "Dr. Path A" }),
      await createDoctor({ specialty, name: "Dr. Path B", active: false }),
      await createDoctor({ specialty, name: "Dr. Path C" }),
    ];
    const patient = await createPatient();
    const appointments = [
      await book(doctors[0]!.id, patient.id, slot(3, 9)),
      await book(doctors[0]!.id, patient.id, slot(4, 9)),
      await book(doctors[2]!.id, patient.id, slot(3, 14)),
    ];
    await json<Appointment>(await call(`/appointments/${appointments[2]!.id}/cancel`, { method: "POST" }), 200);
    const first = await json<Page<Doctor>>(await call(`/doctors?specialty=${q(specialty)}&limit=1`), 200);
    seed = { specialty, doctors, patient, appointments, secondPageCursor: first.nextCursor! };
  });

  it.each(READS)("%s", async (_name, url, status, ids) => {
    const target = url(seed);
    const overHttp = await readOn("http", target);
    const overWs = await readOn("ws", target);

    expect(overHttp.status).toBe(status);
    expect(overWs).toEqual({ ...overHttp, timing: overWs.timing });
    expect(answeredIds(overHttp.body)).toEqual(ids(seed));

    // Each answer really came the way it claims: one HTTP round trip and no socket, or the reverse.
    expect(overHttp.timing).toMatchObject({ roundTrips: 1, opened: 0 });
    expect(overWs.timing).toMatchObject({ roundTrips: 0, opened: 1 });
  });
});
