/**
 * Fuzzing every operation of the Worker's own /openapi.json (a new route is fuzzed the moment it is
 * documented): random and hostile path parameters, query parameters, headers and bodies, mostly as
 * an admin so requests get past authentication into validation and the handlers. Properties:
 * - no answer is a 5xx, and every 4xx is application/problem+json;
 * - rejected requests leave the database unchanged: the rows of this file's fixture change only
 *   across accepted (2xx) requests, and no string a rejected request carried is stored anywhere.
 * Every fuzzed string carries a placeholder that becomes a marker unique to its case (`fz<run>x<n>`),
 * so a marker found in any text column of any table names the case that wrote it.
 *
 * Budget: at most FUZZ_RUNS cases per operation and FUZZ_SECONDS for the whole file, shared equally
 * by the operations, so a new route does not lengthen the run (vitest.config.ts `provide`); a fixed
 * seed (FUZZ_SEED to explore others), so a failure replays.
 */
import { neon, neonConfig } from "@neondatabase/serverless";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { inject } from "vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../../helpers/api.ts";
import { asDoctor, asPatient, type Caller } from "../../helpers/auth.ts";
import { withSql } from "../../helpers/db.ts";
import { book, createDoctor, createPatient, EVERY_MORNING, type Appointment, type Doctor, type Patient } from "../../helpers/factories.ts";

const SEED = inject("fuzzSeed");
const RUNS = inject("fuzzRuns");


/** Replaced in every request by a marker unique to the case. */
const M = "{{M}}";
const RUN = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
const markerOf = (n: number) => `fz${RUN}x${n}`;

// ---------- the contract --------------------------------------------------------------------

interface JsonSchema {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema?: JsonSchema;
}

interface Operation {
  key: string;
  method: string;
  template: string;
  pathParams: string[];
  query: Parameter[];
  body: JsonSchema | undefined;
}

const document = await (await call("/openapi.json", { as: "anonymous" })).json<{
  paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>>;
  components?: { schemas?: Record<string, JsonSchema> };
}>();

function resolve(schema: JsonSchema | undefined): JsonSchema {
  if (!schema) return {};
  if (schema.$ref) return resolve(document.components?.schemas?.[schema.$ref.split("/").pop()!]);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map(resolve)) as JsonSchema;
  return schema;
}

const OPERATIONS: Operation[] = Object.entries(document.paths).flatMap(([template, item]) =>
  Object.entries(item)
    .filter(([method]) => ["get", "put", "post", "delete", "patch"].includes(method))
    .map(([method, op]) => ({
      key: `${method.toUpperCase()} ${template}`,
      method: method.toUpperCase(),
      template,
      pathParams: [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
      query: (op.parameters ?? []).filter((p) => p.in === "query"),
      body: op.requestBody ? resolve(op.requestBody.content?.["application/json"]?.schema) : undefined,
    })),
);

// ---------- hostile values ------------------------------------------------------------------

const INJECTIONS = [
  "' OR 1=1 --",
  "1; DROP TABLE doctors",
  "'; DELETE FROM appointments; --",
  "\" OR \"\"=\"",
  "1' UNION SELECT email FROM patients --",
  "$1",
  "%",
  "_",
  "\\",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "${7*7}",
  "null",
  "undefined",
  "NaN",
  "-0",
  "1e999",
  "0x10",
  "９",
  "",
  " ",
];

/** Unicode a client can send: NUL, RTL override, zero-width, emoji, combining marks, lone surrogates. */
const UNICODE = ["\u0000", "a\u0000b", "\u202Eevil", "\u200B", "😀🏥", "👩‍⚕️", "e\u0301", "\uD800", "\uDFFF", "\uFEFF", "Ω≈ç√", "𝕏"];

/** Any string, hostile more often than not, always carrying the case's marker. */
const hostileString: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...INJECTIONS) },
    { weight: 3, arbitrary: fc.constantFrom(...UNICODE) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: 300, max: 20_000 }).map((n) => "x".repeat(n)) },
  )
  .chain((s) => fc.constantFrom(`${s}${M}`, `${M}${s}`));

/** A header value must be a ByteString: printable ASCII only. */
const asciiString = fc.oneof(
  fc.constantFrom(...INJECTIONS.filter((s) => /^[\x20-\x7e]*$/.test(s))),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 }),
);

const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -(2 ** 63), 2 ** 31, -1, 0, 1.5, Number.MIN_VALUE, 1e-7);

function deeplyNested(depth: number): unknown {
  let v: unknown = `${M}deep`;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** A value of any type but (usually) the wrong one. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hugeNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), hostileString, { maxKeys: 3 }),
  fc.constantFrom(10, 1_000, 5_000).map(deeplyNested),
  fc.jsonValue({ maxDepth: 2 }),
);

// ---------- the fixture ---------------------------------------------------------------------

interface Fixture {
  /** The doctor, patient and appointment path parameters name. */
  doctor: Doctor;
  patient: Patient;
  appointment: Appointment;
  /** Bookings name this doctor, never in a path, so it stays active with its schedule. */
  bookable: Doctor;
  /** An appointment that has started (inserted directly: the API books only ahead), so one can be completed. */
  pastAppointmentId: string;
}
let fx: Fixture;

const ids = () => [fx.doctor.id, fx.patient.id, fx.appointment.id, fx.bookable.id, fx.pastAppointmentId];

/** A 30-minute slot inside EVERY_MORNING's hours, within the two years bookings may look ahead. */
const morningSlot = fc.record({ day: fc.integer({ min: 2, max: 700 }), half: fc.integer({ min: 0, max: 5 }) }).map(({ day, half }) => {
  const start = new Date();
  start.setUTCDate(start.getUTCDate() + day);
  start.setUTCHours(9, half * 30, 0, 0);
  return { startsAt: start.toISOString(), endsAt: new Date(start.getTime() + 30 * 60_000).toISOString() };
});

/** Valid bodies the schema alone cannot describe (slots in working hours, ids that exist). */
const VALID_BODIES: Record<string, () => fc.Arbitrary<Record<string, unknown>>> = {
  "POST /appointments": () => morningSlot.map((s) => ({ doctorId: fx.bookable.id, patientId: fx.patient.id, ...s })),
  "PATCH /appointments/{id}": () => morningSlot,
  "PUT /doctors/{id}/schedule": () => fc.constant(EVERY_MORNING),
};

/** A value the schema accepts (as far as a schema says), named fields filled sensibly. */
function validOf(schema: JsonSchema, name = ""): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return validOf(alternatives.find((a) => resolve(a).type !== "null") ?? alternatives[0]!, name);
  if (s.enum) return fc.constantFrom(...s.enum);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  switch (type) {
    case "object":
      return fc.record(
        Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, validOf(v, k)])),
        { requiredKeys: s.required ?? [] },
      );
    case "array":
      return fc.array(validOf(s.items ?? {}), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 3, 3) });
    case "integer":
    case "number":
      return fc.integer({ min: s.minimum ?? 0, max: Math.min(s.maximum ?? 100, (s.minimum ?? 0) + 100) });
    case "boolean":
      return fc.boolean();
    case "string":
      return validString(s, name);
    default:
      return fc.constant(`${M}`);
  }
}

function validString(s: JsonSchema, name: string): fc.Arbitrary<string> {
  if (s.format === "uuid") {
    if (/doctor/i.test(name)) return fc.constant(fx.bookable.id);
    if (/patient/i.test(name)) return fc.constant(fx.patient.id);
    return fc.constantFrom(...ids());
  }
  if (s.format === "email" || /email/i.test(name)) return fc.uuid().map((u) => `${M}.${u}@example.com`);
  if (s.format === "date") return fc.constant("1980-05-17");
  if (s.format === "date-time") return morningSlot.map((x) => x.startsAt);
  if (/phone/i.test(name)) return fc.constant("+55 11 95555-0101");
  return fc.constant(`${name} ${M}`.slice(0, s.maxLength ?? 200));
}

/** A body: random JSON, the schema's fields of the wrong kind, or a valid one with one field mutated. */
function bodyFor(op: Operation): fc.Arbitrary<Body> {
  const schema = op.body ?? {};
  const fields = Object.keys(schema.properties ?? {});
  const valid = VALID_BODIES[op.key]?.() ?? validOf(schema);
  const json = (value: unknown): Body => ({ kind: "json", value });
  const arbitraries: Array<fc.WeightedArbitrary<Body>> = [
    { weight: 2, arbitrary: fc.jsonValue().map(json) },
    { weight: 3, arbitrary: fc.record(Object.fromEntries(fields.map((f) => [f, wrongValue])), { requiredKeys: [] }).map(json) },
    { weight: 4, arbitrary: valid.map(json) },
    {
      weight: 4,
      arbitrary: fc.tuple(valid, fc.constantFrom(...(fields.length ? fields : ["x"])), fc.option(wrongValue, { nil: undefined })).map(([v, field, wrong]) => {
        const mutated = { ...(v as Record<string, unknown>) };
        if (wrong === undefined) delete mutated[field];
        else mutated[field] = wrong;
        return json(mutated);
      }),
    },
    { weight: 1, arbitrary: fc.oneof(hostileString, fc.constantFrom("{", "[1,", "{\"a\":}", "")).map((text): Body => ({ kind: "raw", text })) },
  ];
  return fc.oneof(...arbitraries);
}

// ---------- requests ------------------------------------------------------------------------

type Body = { kind: "json"; value: unknown } | { kind: "raw"; text: string };

interface Case {
  caller: "admin" | "anonymous" | "patient" | "doctor";
  path: string[];
  query: Array<[string, string]>;
  headers: Record<string, string>;
  body: Body | undefined;
}

function existingId(template: string): fc.Arbitrary<string> {
  if (template.startsWith("/doctors")) return fc.constant(fx.doctor.id);
  if (template.startsWith("/patients")) return fc.constant(fx.patient.id);
  // Only the started appointment can be completed; no other route may move it into the future.
  return fc.constant(template.endsWith("/complete") ? fx.pastAppointmentId : fx.appointment.id);
}

function pathParamFor(template: string): fc.Arbitrary<string> {
  return fc.oneof({ weight: 6, arbitrary: existingId(template) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 3, arbitrary: hostileString });
}

function queryValueFor(p: Parameter): fc.Arbitrary<string> {
  const s = resolve(p.schema);
  const valid = validOf(s, p.name).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  return fc.oneof({ weight: 4, arbitrary: valid }, hostileString, hugeNumber.map(String), fc.constantFrom(...ids()));
}

/** A deadline short enough to expire: the client asked for it, and 504 is then the right answer. */
const isShortDeadline = (s: string) => Number.isFinite(Number(s.trim())) && Number(s.trim()) > 0 && Number(s.trim()) < 5_000;

/** Each header: usually valid (so requests get further), often not. */
const headerArbitraries: Record<string, fc.Arbitrary<string>> = {
  "x-request-timeout-ms": fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 5_000, max: 10 ** 9 }).map(String) },
    { weight: 1, arbitrary: asciiString.filter((s) => !isShortDeadline(s)) },
    { weight: 1, arbitrary: fc.constantFrom("0", "-1", "1.5", "99999999999999999999", "5000.5") },
  ),
  "if-match": fc.oneof({ weight: 4, arbitrary: fc.constant("*") }, fc.nat(5).map((n) => `"${n}"`), fc.nat(5).map((n) => `W/"${n}"`), asciiString),
  "idempotency-key": fc.oneof({ weight: 3, arbitrary: fc.uuid().map((u) => `${u}-${M}`) }, asciiString.map((s) => `${s}${M}`), fc.constant("x".repeat(1_000))),
  "x-request-id": fc.oneof({ weight: 3, arbitrary: fc.constant(M) }, asciiString),
};

const contentTypes = fc.constantFrom(
  "application/json",
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/merge-patch+json",
  "multipart/form-data; boundary=x",
  "application/json; charset=latin1",
  "",
);

/**
 * A request that should be accepted: admin, an existing row, valid query values, the headers a
 * careful client sends and a valid body. Without these, the hostile cases' many independent ways to
 * be wrong make a 2xx rare, and the handlers' success paths would go unfuzzed.
 */
function cleanCaseFor(op: Operation): fc.Arbitrary<Case> {
  return fc.record({
    caller: fc.constant("admin" as const),
    path: fc.tuple(...op.pathParams.map(() => existingId(op.template))),
    query: fc.constant([]),
    headers: fc.uuid().map((u) => ({
      "if-match": "*",
      "idempotency-key": `${u}-${M}`,
      "x-request-id": M,
      ...(op.body ? { "content-type": "application/json" } : {}),
    })),
    body: op.body ? (VALID_BODIES[op.key]?.() ?? validOf(op.body)).map((value): Body => ({ kind: "json", value })) : fc.constant(undefined),
  });
}

function caseFor(op: Operation): fc.Arbitrary<Case> {
  return fc.oneof({ weight: 4, arbitrary: hostileCaseFor(op) }, { weight: 1, arbitrary: cleanCaseFor(op) });
}

function hostileCaseFor(op: Operation): fc.Arbitrary<Case> {
  return fc.record({
    caller: fc.constantFrom("admin", "admin", "admin", "admin", "admin", "admin", "admin", "anonymous", "patient", "doctor"),
    path: fc.tuple(...op.pathParams.map(() => pathParamFor(op.template))),
    query: fc
      .tuple(
        ...op.query.map((p) =>
          fc.option(
            fc.array(queryValueFor(p), { minLength: 1, maxLength: 2 }).map((vs) => vs.map((v): [string, string] => [p.name, v])),
            { nil: [], freq: 2 },
          ),
        ),
        fc.option(fc.tuple(fc.constantFrom("unknown", "limit", "cursor"), hostileString), { nil: undefined }).map((x) => (x ? [x] : [])),
      )
      .map((groups) => groups.flat()),
    headers: fc
      .tuple(
        ...Object.entries(headerArbitraries).map(([name, arb]) => fc.option(arb.map((v) => [name, v] as const), { nil: undefined, freq: 3 })),
        fc.option(contentTypes.map((v) => ["content-type", v] as const), { nil: undefined, freq: 8 }).map((x) => x ?? (op.body ? (["content-type", "application/json"] as const) : undefined)),
      )
      .map((entries) => Object.fromEntries(entries.filter((e) => e !== undefined))),
    body: op.body ? bodyFor(op) : fc.constant(undefined),
  });
}

const callerOf = (c: Case["caller"]): Caller =>
  c === "admin" ? { role: "admin", sub: "fuzz-admin" } : c === "anonymous" ? "anonymous" : c === "patient" ? asPatient(fx.patient.id) : asDoctor(fx.doctor.id);

/** A URL carries UTF-8, which a lone surrogate has none of: it goes as U+FFFD, as a browser sends it. */
/** The case with its placeholders turned into the case's marker (JSON round trip keeps lone surrogates). */
function withMarker(c: Case, marker: string): Case {
  return JSON.parse(JSON.stringify(c).replaceAll(M, marker)) as Case;
}

function send(op: Operation, c: Case): Promise<Response> {
  let i = 0;
  const path = op.template.replace(/\{\w+\}/g, () => encodeURIComponent(c.path[i++]!.replace(/\p{Cs}/gu, "\uFFFD")));
  const query = c.query.length ? `?${new URLSearchParams(c.query).toString()}` : "";
  const body = c.body === undefined ? undefined : c.body.kind === "json" ? JSON.stringify(c.body.value) : c.body.text;
  return call(path + query, { as: callerOf(c.caller), method: op.method, headers: c.headers, ...(body === undefined ? {} : { body }) });
}

// ---------- what the database holds ---------------------------------------------------------

/**
 * The fixture's rows and everything hanging off them, as text: equal snapshots, unchanged rows.
 * Over the local HTTP /sql endpoint (one round trip, no connection to open: it runs before many
 * write cases, and a WebSocket connection each time would take most of the budget).
 */
async function snapshot(): Promise<string[]> {
  const doctors = [fx.doctor.id, fx.bookable.id];
  const patients = [fx.patient.id];
  neonConfig.fetchEndpoint = inject("sqlEndpoint");
  const rows = (await neon(env.DATABASE_URL).query(
      `WITH appts AS (SELECT * FROM appointments WHERE doctor_id = ANY($1::uuid[]) OR patient_id = ANY($2::uuid[]))
       SELECT x FROM (
         SELECT 'doctor ' || row_to_json(d)::text AS x FROM doctors d WHERE id = ANY($1::uuid[])
         UNION ALL SELECT 'patient ' || row_to_json(p)::text FROM patients p WHERE id = ANY($2::uuid[])
         UNION ALL SELECT 'appointment ' || row_to_json(a)::text FROM appts a
         UNION ALL SELECT 'event ' || row_to_json(e)::text FROM appointment_events e WHERE appointment_id IN (SELECT id FROM appts)
         UNION ALL SELECT 'schedule ' || row_to_json(s)::text FROM doctor_schedules s WHERE doctor_id = ANY($1::uuid[])
       ) q ORDER BY x`,
    [doctors, patients],
  )) as Array<{ x: string }>;
  return rows.map((r) => r.x);
}

/** Every marker of this run found in any text column of any table, with where it was found. */
async function markersInDatabase(): Promise<Map<string, string>> {
  return withSql(async (sql) => {
    const { rows: columns } = await sql.query<{ t: string; c: string }>(
      `SELECT table_name AS t, column_name AS c FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb')`,
    );
    const found = new Map<string, string>();
    for (const { t, c } of columns) {
      const { rows } = await sql.query<{ m: string }>(
        `SELECT DISTINCT (regexp_matches(${sql.escapeIdentifier(c)}::text, $1, 'g'))[1] AS m FROM ${sql.escapeIdentifier(t)}`,
        [`(fz${RUN}x[0-9]+)`],
      );
      for (const { m } of rows) found.set(m, `${t}.${c}`);
    }
    return found;
  });
}

// ---------- the properties ------------------------------------------------------------------

const accepted = new Set<string>();
const rejected = new Set<string>();
let caseNumber = 0;
/** Times an accepted write visibly changed the fixture: proves the snapshot sees changes at all. */
let fixtureChanges = 0;
const seen: Record<string, { cases: number; ok: number; rejected: number; ms: number; statuses: Record<number, number> }> = {};

/** Routes that cannot answer 2xx in the test configuration, and why (so the sanity check stays honest). */
const NO_2XX_EXPECTED: Record<string, string> = {
  "GET /debug/inflight": "DEBUG_ENDPOINTS is off in the tests: 404 to everyone",
};

beforeAll(async () => {
  const bookable = await createDoctor();
  const put = await call(`/doctors/${bookable.id}/schedule`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(EVERY_MORNING) });
  expect(put.status).toBe(200);
  // An insurance member id the insurer's stand-in covers, so eligibility can answer 200.
  const [doctor, patient] = [await createDoctor(), await createPatient({ insuranceMemberId: `FUZZ-${crypto.randomUUID().slice(0, 8)}` })];
  const start = new Date();
  start.setUTCDate(start.getUTCDate() + 1);
  start.setUTCHours(9, 0, 0, 0);
  const appointment = await book(bookable.id, patient.id, { startsAt: start.toISOString(), endsAt: new Date(start.getTime() + 30 * 60_000).toISOString() });
  const pastAppointmentId = await withSql(async (sql) => {
    const { rows } = await sql.query<{ id: string }>(
      `INSERT INTO appointments (doctor_id, patient_id, starts_at, ends_at) VALUES ($1, $2, now() - interval '2 hours', now() - interval '90 minutes') RETURNING id`,
      [bookable.id, patient.id],
    );
    return rows[0]!.id;
  });
  fx = { doctor, patient, appointment, bookable, pastAppointmentId };
});

afterAll(() => {
  const total = Object.values(seen).reduce((s, r) => ({ cases: s.cases + r.cases, ms: s.ms + r.ms }), { cases: 0, ms: 0 });
  console.log(`fuzz: ${total.cases} cases in ${(total.ms / 1_000).toFixed(1)} s over ${Object.keys(seen).length} operations (seed ${SEED})`);
  for (const [key, r] of Object.entries(seen)) console.log(`fuzz: ${key}: ${r.cases} cases (${r.ok} 2xx, ${r.rejected} 4xx) in ${r.ms} ms ${JSON.stringify(r.statuses)}`);
});

describe.each(OPERATIONS)("fuzzing $key", (op) => {
  it("never answers 5xx, answers 4xx as problems, and changes nothing when it refuses", async () => {
    const stats = { cases: 0, ok: 0, rejected: 0, ms: 0, statuses: {} as Record<number, number> };
    seen[op.key] = stats;
    const started = Date.now();
    let baseline = await snapshot();
    /** Requests refused since the baseline: if the fixture changed, one of them did it. */
    let refusedSinceBaseline: string[] = [];

    // Not interruptAfterTimeLimit: it abandons the running case, whose request then lands after
    // the final snapshot. Past the budget the remaining cases are skipped instead (cheap no-ops).
    const budgetEnds = started + (inject("fuzzSeconds") * 1_000) / OPERATIONS.length;
    try {
      await fc.assert(
        fc.asyncProperty(caseFor(op), async (template) => {
          if (Date.now() > budgetEnds) return;
          const marker = markerOf(++caseNumber);
          const c = withMarker(template, marker);
          const mayChangeFixture = op.method !== "GET" && ids().some((id) => JSON.stringify(c).includes(id));
          // This request may change the fixture if accepted: first prove the refusals since the
          // baseline did not (only then, so the fixture is not read after every request).
          if (mayChangeFixture && refusedSinceBaseline.length > 0) {
            expect(await snapshot(), `refused requests changed the fixture:\n${refusedSinceBaseline.join("\n")}`).toEqual(baseline);
            refusedSinceBaseline = [];
          }
          const res = await send(op, c);
          const text = await res.text();
          const shown = () => `${op.method} ${JSON.stringify(c).slice(0, 2_000)}\n→ ${res.status} ${text.slice(0, 500)}`;
          stats.cases++;
          stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
          expect(res.status, shown()).toBeLessThan(500);
          if (res.status >= 400) {
            stats.rejected++;
            rejected.add(marker);
            expect(res.headers.get("content-type"), shown()).toBe("application/problem+json");
            if (op.method !== "GET") refusedSinceBaseline.push(shown().slice(0, 300));
            return;
          }
          stats.ok++;
          accepted.add(marker);
          if (mayChangeFixture) {
            const after = await snapshot();
            if (JSON.stringify(after) !== JSON.stringify(baseline)) fixtureChanges++;
            baseline = after;
            refusedSinceBaseline = [];
          }
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
    } finally {
      stats.ms = Date.now() - started;
    }

    expect(await snapshot(), `refused requests changed the fixture:\n${refusedSinceBaseline.slice(-20).join("\n")}`).toEqual(baseline);
    expect(stats.rejected, `${op.key}: no request was refused`).toBeGreaterThan(0);
    if (!(op.key in NO_2XX_EXPECTED)) expect(stats.ok, `${op.key}: no request was accepted, so the fuzz only saw refusals`).toBeGreaterThan(0);
  });
});

describe("after fuzzing every operation", () => {
  it("fuzzed every operation of the contract", () => {
    expect(Object.keys(seen).sort()).toEqual(OPERATIONS.map((op) => op.key).sort());
  });

  it("saw accepted writes change the fixture, so its unchanged snapshots mean something", () => {
    expect(fixtureChanges).toBeGreaterThan(0);
  });

  it("stored no string from a refused request, anywhere (and did store accepted ones)", async () => {
    const found = await markersInDatabase();
    const fromRefused = [...found].filter(([m]) => rejected.has(m));
    expect(fromRefused).toEqual([]);
    // The search can find what it looks for: accepted creates left their markers.
    expect([...found.keys()].filter((m) => accepted.has(m)).length).toBeGreaterThan(0);
  });
});
