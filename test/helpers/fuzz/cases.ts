/**
 * The fuzz's requests (test/integration/security/fuzz.test.ts): for an operation of the contract, cases
 * that are hostile in many independent ways or clean enough to be accepted, built against the test's
 * fixture (ids that exist, a doctor with working hours) and sent to the Worker under test.
 */
import fc from "fast-check";
import { call } from "../api.ts";
import { asDoctor, asPatient, type Caller } from "../auth.ts";
import { EVERY_MORNING, type Appointment, type Doctor, type Patient } from "../factories.ts";
import {
  contentTypes,
  headerArbitraries,
  hostileString,
  hugeNumber,
  M,
  wrongValue,
  type JsonSchema,
  type Operation,
  type Parameter,
  type Resolve,
} from "./arbitraries.ts";

export interface Fixture {
  /** The doctor, patient and appointment path parameters name. */
  doctor: Doctor;
  patient: Patient;
  appointment: Appointment;
  /** Bookings name this doctor, never in a path, so it stays active with its schedule. */
  bookable: Doctor;
  /** An appointment that has started (inserted directly: the API books only ahead), so one can be completed. */
  pastAppointmentId: string;
}

export const fixtureIds = (fx: Fixture) => [
  fx.doctor.id,
  fx.patient.id,
  fx.appointment.id,
  fx.bookable.id,
  fx.pastAppointmentId,
];

/** What cases are built against: the fixture's rows and the contract's schemas. */
export interface CaseContext {
  fx: Fixture;
  resolve: Resolve;
}

// ---------- valid values --------------------------------------------------------------------

/** A 30-minute slot inside EVERY_MORNING's hours, within the two years bookings may look ahead. */
const morningSlot = fc
  .record({ day: fc.integer({ min: 2, max: 700 }), half: fc.integer({ min: 0, max: 5 }) })
  .map(({ day, half }) => {
    const start = new Date();
    start.setUTCDate(start.getUTCDate() + day);
    start.setUTCHours(9, half * 30, 0, 0);
    return { startsAt: start.toISOString(), endsAt: new Date(start.getTime() + 30 * 60_000).toISOString() };
  });

/** Valid bodies the schema alone cannot describe (slots in working hours, ids that exist). */
const VALID_BODIES: Record<string, (fx: Fixture) => fc.Arbitrary<Record<string, unknown>>> = {
  "POST /appointments": (fx) => morningSlot.map((s) => ({ doctorId: fx.bookable.id, patientId: fx.patient.id, ...s })),
  "PATCH /appointments/{id}": () => morningSlot,
  "PUT /doctors/{id}/schedule": () => fc.constant(EVERY_MORNING),
};

/** A value the schema accepts (as far as a schema says), named fields filled sensibly. */
function validOf(ctx: CaseContext, schema: JsonSchema, name = ""): fc.Arbitrary<unknown> {
  const s = ctx.resolve(schema);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives)
    return validOf(ctx, alternatives.find((a) => ctx.resolve(a).type !== "null") ?? alternatives[0]!, name);
  if (s.enum) return fc.constantFrom(...s.enum);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  switch (type) {
    case "object":
      return fc.record(
        Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, validOf(ctx, v, k)])),
        { requiredKeys: s.required ?? [] },
      );
    case "array":
      return fc.array(validOf(ctx, s.items ?? {}), {
        minLength: s.minItems ?? 0,
        maxLength: Math.min(s.maxItems ?? 3, 3),
      });
    case "integer":
    case "number":
      return fc.integer({ min: s.minimum ?? 0, max: Math.min(s.maximum ?? 100, (s.minimum ?? 0) + 100) });
    case "boolean":
      return fc.boolean();
    case "string":
      return validString(ctx.fx, s, name);
    default:
      return fc.constant(`${M}`);
  }
}

function validString(fx: Fixture, s: JsonSchema, name: string): fc.Arbitrary<string> {
  if (s.format === "uuid") {
    if (/doctor/i.test(name)) return fc.constant(fx.bookable.id);
    if (/patient/i.test(name)) return fc.constant(fx.patient.id);
    return fc.constantFrom(...fixtureIds(fx));
  }
  if (s.format === "email" || /email/i.test(name)) return fc.uuid().map((u) => `${M}.${u}@example.com`);
  if (s.format === "date") return fc.constant("1980-05-17");
  if (s.format === "date-time") return morningSlot.map((x) => x.startsAt);
  if (/phone/i.test(name)) return fc.constant("+55 11 95555-0101");
  return fc.constant(`${name} ${M}`.slice(0, s.maxLength ?? 200));
}

/** A body: random JSON, the schema's fields of the wrong kind, or a valid one with one field mutated. */
function bodyFor(ctx: CaseContext, op: Operation): fc.Arbitrary<Body> {
  const schema = op.body ?? {};
  const fields = Object.keys(schema.properties ?? {});
  const valid = VALID_BODIES[op.key]?.(ctx.fx) ?? validOf(ctx, schema);
  const json = (value: unknown): Body => ({ kind: "json", value });
  const arbitraries: Array<fc.WeightedArbitrary<Body>> = [
    { weight: 2, arbitrary: fc.jsonValue().map(json) },
    {
      weight: 3,
      arbitrary: fc.record(Object.fromEntries(fields.map((f) => [f, wrongValue])), { requiredKeys: [] }).map(json),
    },
    { weight: 4, arbitrary: valid.map(json) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...(fields.length ? fields : ["x"])), fc.option(wrongValue, { nil: undefined }))
        .map(([v, field, wrong]) => {
          const mutated = { ...(v as Record<string, unknown>) };
          if (wrong === undefined) delete mutated[field];
          else mutated[field] = wrong;
          return json(mutated);
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(hostileString, fc.constantFrom("{", "[1,", '{"a":}', ""))
        .map((text): Body => ({ kind: "raw", text })),
    },
  ];
  return fc.oneof(...arbitraries);
}

// ---------- requests ------------------------------------------------------------------------

type Body = { kind: "json"; value: unknown } | { kind: "raw"; text: string };

export interface Case {
  caller: "admin" | "anonymous" | "patient" | "doctor";
  path: string[];
  query: Array<[string, string]>;
  headers: Record<string, string>;
  body: Body | undefined;
}

function existingId(fx: Fixture, template: string): fc.Arbitrary<string> {
  if (template.startsWith("/doctors")) return fc.constant(fx.doctor.id);
  if (template.startsWith("/patients")) return fc.constant(fx.patient.id);
  // Only the started appointment can be completed; no other route may move it into the future.
  return fc.constant(template.endsWith("/complete") ? fx.pastAppointmentId : fx.appointment.id);
}

function pathParamFor(fx: Fixture, template: string): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: existingId(fx, template) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 3, arbitrary: hostileString },
  );
}

function queryValueFor(ctx: CaseContext, p: Parameter): fc.Arbitrary<string> {
  const s = ctx.resolve(p.schema);
  const valid = validOf(ctx, s, p.name).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  return fc.oneof(
    { weight: 4, arbitrary: valid },
    hostileString,
    hugeNumber.map(String),
    fc.constantFrom(...fixtureIds(ctx.fx)),
  );
}

/**
 * A request that should be accepted: admin, an existing row, valid query values, the headers a
 * careful client sends and a valid body. Without these, the hostile cases' many independent ways to
 * be wrong make a 2xx rare, and the handlers' success paths would go unfuzzed.
 */
function cleanCaseFor(ctx: CaseContext, op: Operation): fc.Arbitrary<Case> {
  return fc.record({
    caller: fc.constant("admin" as const),
    path: fc.tuple(...op.pathParams.map(() => existingId(ctx.fx, op.template))),
    query: fc.constant([]),
    headers: fc.uuid().map((u) => ({
      "if-match": "*",
      "idempotency-key": `${u}-${M}`,
      "x-request-id": M,
      ...(op.body ? { "content-type": "application/json" } : {}),
    })),
    body: op.body
      ? (VALID_BODIES[op.key]?.(ctx.fx) ?? validOf(ctx, op.body)).map((value): Body => ({ kind: "json", value }))
      : fc.constant(undefined),
  });
}

/** A case for `op`: hostile four times in five, clean otherwise. */
export function caseFor(ctx: CaseContext, op: Operation): fc.Arbitrary<Case> {
  return fc.oneof({ weight: 4, arbitrary: hostileCaseFor(ctx, op) }, { weight: 1, arbitrary: cleanCaseFor(ctx, op) });
}

function hostileCaseFor(ctx: CaseContext, op: Operation): fc.Arbitrary<Case> {
  return fc.record({
    caller: fc.constantFrom(
      "admin",
      "admin",
      "admin",
      "admin",
      "admin",
      "admin",
      "admin",
      "anonymous",
      "patient",
      "doctor",
    ),
    path: fc.tuple(...op.pathParams.map(() => pathParamFor(ctx.fx, op.template))),
    query: fc
      .tuple(
        ...op.query.map((p) =>
          fc.option(
            fc
              .array(queryValueFor(ctx, p), { minLength: 1, maxLength: 2 })
              .map((vs) => vs.map((v): [string, string] => [p.name, v])),
            { nil: [], freq: 2 },
          ),
        ),
        fc
          .option(fc.tuple(fc.constantFrom("unknown", "limit", "cursor"), hostileString), { nil: undefined })
          .map((x) => (x ? [x] : [])),
      )
      .map((groups) => groups.flat()),
    headers: fc
      .tuple(
        ...Object.entries(headerArbitraries).map(([name, arb]) =>
          fc.option(
            arb.map((v) => [name, v] as const),
            { nil: undefined, freq: 3 },
          ),
        ),
        fc
          .option(
            contentTypes.map((v) => ["content-type", v] as const),
            { nil: undefined, freq: 8 },
          )
          .map((x) => x ?? (op.body ? (["content-type", "application/json"] as const) : undefined)),
      )
      .map((entries) => Object.fromEntries(entries.filter((e) => e !== undefined))),
    body: op.body ? bodyFor(ctx, op) : fc.constant(undefined),
  });
}

const callerOf = (fx: Fixture, c: Case["caller"]): Caller =>
  c === "admin"
    ? { role: "admin", sub: "fuzz-admin" }
    : c === "anonymous"
      ? "anonymous"
      : c === "patient"
        ? asPatient(fx.patient.id)
        : asDoctor(fx.doctor.id);

/** The case with its placeholders turned into the case's marker (JSON round trip keeps lone surrogates). */
export function withMarker(c: Case, marker: string): Case {
  return JSON.parse(JSON.stringify(c).replaceAll(M, marker)) as Case;
}

/**
 * Sends the case as its caller. A URL carries UTF-8, which a lone surrogate has none of: it goes as
 * U+FFFD, as a browser sends it.
 */
export function send(fx: Fixture, op: Operation, c: Case): Promise<Response> {
  let i = 0;
  const path = op.template.replace(/\{\w+\}/g, () => encodeURIComponent(c.path[i++]!.replace(/\p{Cs}/gu, "\uFFFD")));
  const query = c.query.length ? `?${new URLSearchParams(c.query).toString()}` : "";
  const body = c.body === undefined ? undefined : c.body.kind === "json" ? JSON.stringify(c.body.value) : c.body.text;
  return call(path + query, {
    as: callerOf(fx, c.caller),
    method: op.method,
    headers: c.headers,
    ...(body === undefined ? {} : { body }),
  });
}
