/**
 * Fuzzing every operation of the Worker's own /openapi.json (a new route is fuzzed the moment it is
 * documented): random and hostile path parameters, query parameters, headers and bodies, mostly as
 * an admin so requests get past authentication into validation and the handlers. Properties:
 * - no answer is a 5xx, and every 4xx is application/problem+json;
 * - every status is one the operation documents, and every 2xx body matches its response schema
 *   (test/helpers/contract.ts);
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
import { expectInContract, type ContractDocument } from "../../helpers/contract.ts";
import { withSql } from "../../helpers/db.ts";
import { book, createDoctor, createPatient, EVERY_MORNING } from "../../helpers/factories.ts";
import { operationsOf, resolverOf, type OpenApiDocument } from "../../helpers/fuzz/arbitraries.ts";
import { caseFor, fixtureIds, send, withMarker, type Fixture } from "../../helpers/fuzz/cases.ts";

const SEED = inject("fuzzSeed");
const RUNS = inject("fuzzRuns");
const REPLAY = inject("fuzzPath");
/**
 * Cases each operation must really run within its share of the budget (cases past the budget are
 * skipped, and fast-check counts them as passes): on the 2-core machine the slowest writes run 100+.
 */
const MIN_CASES = REPLAY ? 1 : Math.min(RUNS, 20);

/** Each case's placeholders become a marker of its own (cases.ts `withMarker`), unique to this run. */
const RUN = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
const markerOf = (n: number) => `fz${RUN}x${n}`;

// ---------- the contract and the fixture ----------------------------------------------------

const document = await (await call("/openapi.json", { as: "anonymous" })).json<OpenApiDocument>();
const resolve = resolverOf(document);
const OPERATIONS = operationsOf(document);

/** The rows the cases name (test/helpers/fuzz/cases.ts), made in beforeAll. */
let fx: Fixture;

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
const seen: Record<
  string,
  { cases: number; ok: number; rejected: number; ms: number; statuses: Record<number, number> }
> = {};

/** Routes that cannot answer 2xx in the test configuration, and why (so the sanity check stays honest). */
const NO_2XX_EXPECTED: Record<string, string> = {
  "GET /debug/inflight": "DEBUG_ENDPOINTS is off in the tests: 404 to everyone",
};

beforeAll(async () => {
  const bookable = await createDoctor();
  const put = await call(`/doctors/${bookable.id}/schedule`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(EVERY_MORNING),
  });
  expect(put.status).toBe(200);
  // An insurance member id the insurer's stand-in covers, so eligibility can answer 200.
  const [doctor, patient] = [
    await createDoctor(),
    await createPatient({ insuranceMemberId: `FUZZ-${crypto.randomUUID().slice(0, 8)}` }),
  ];
  const start = new Date();
  start.setUTCDate(start.getUTCDate() + 1);
  start.setUTCHours(9, 0, 0, 0);
  const appointment = await book(bookable.id, patient.id, {
    startsAt: start.toISOString(),
    endsAt: new Date(start.getTime() + 30 * 60_000).toISOString(),
  });
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
  const total = Object.values(seen).reduce((s, r) => ({ cases: s.cases + r.cases, ms: s.ms + r.ms }), {
    cases: 0,
    ms: 0,
  });
  console.log(
    `fuzz: ${total.cases} cases in ${(total.ms / 1_000).toFixed(1)} s over ${Object.keys(seen).length} operations (seed ${SEED})`,
  );
  for (const [key, r] of Object.entries(seen))
    console.log(
      `fuzz: ${key}: ${r.cases} cases (${r.ok} 2xx, ${r.rejected} 4xx) in ${r.ms} ms ${JSON.stringify(r.statuses)}`,
    );
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
        fc.asyncProperty(caseFor({ fx, resolve }, op), async (template) => {
          if (!REPLAY && Date.now() > budgetEnds) return;
          const marker = markerOf(++caseNumber);
          const c = withMarker(template, marker);
          const mayChangeFixture = op.method !== "GET" && fixtureIds(fx).some((id) => JSON.stringify(c).includes(id));
          // This request may change the fixture if accepted: first prove the refusals since the
          // baseline did not (only then, so the fixture is not read after every request).
          if (mayChangeFixture && refusedSinceBaseline.length > 0) {
            expect(
              await snapshot(),
              `refused requests changed the fixture:\n${refusedSinceBaseline.join("\n")}`,
            ).toEqual(baseline);
            refusedSinceBaseline = [];
          }
          const res = await send(fx, op, c);
          const text = await res.text();
          const shown = () =>
            `${op.method} ${JSON.stringify(c).slice(0, 2_000)}\n→ ${res.status} ${text.slice(0, 500)}`;
          stats.cases++;
          stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
          expect(res.status, shown()).toBeLessThan(500);
          expectInContract(document as ContractDocument, op.method, op.template, res, text, shown);
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
        { numRuns: RUNS, seed: SEED, endOnFailure: true, ...(REPLAY ? { path: REPLAY, numRuns: 1 } : {}) },
      );
    } catch (err) {
      // Which cases run depends on the time budget; the path names the failing one whatever the speed.
      const path = /path: "([^"]+)"/.exec(err instanceof Error ? err.message : "")?.[1];
      const replay = `FUZZ_SEED=${SEED} FUZZ_PATH=${path} npx vitest run --project workers test/integration/security/fuzz.test.ts -t "fuzzing ${op.key} "`;
      throw new Error(`${op.key}: replay with ${replay}`, { cause: err });
    } finally {
      stats.ms = Date.now() - started;
    }

    expect(
      await snapshot(),
      `refused requests changed the fixture:\n${refusedSinceBaseline.slice(-20).join("\n")}`,
    ).toEqual(baseline);
    expect(stats.cases, `${op.key}: only ${stats.cases} cases ran within the budget`).toBeGreaterThanOrEqual(MIN_CASES);
    // A replay runs the one failing case: the mix of answers below is the full run's to show.
    if (REPLAY) return;
    expect(stats.rejected, `${op.key}: no request was refused`).toBeGreaterThan(0);
    if (!(op.key in NO_2XX_EXPECTED))
      expect(stats.ok, `${op.key}: no request was accepted, so the fuzz only saw refusals`).toBeGreaterThan(0);
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
