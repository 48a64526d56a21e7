/**
 * The incident lab as a test: `npm run lab -- all --seconds 5` once (about four and a half
 * minutes on two cores), then each incident's difference read from its run.json: the bad variant
 * shows the failure and fires its alert under a real Prometheus, the good one does neither.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabIncident, LabRun, LabVariant } from "../../lab/run-format.ts";

const run = promisify(execFile);
const ROOT = new URL("../..", import.meta.url).pathname;
let out = "";
let lab: LabRun;
/** What the run printed on stdout: each incident's table, then the overview. */
let printed = "";

const incident = (id: string): LabIncident => {
  const found = lab.incidents.find((i) => i.id === id);
  if (!found) throw new Error(`no incident ${id} in run.json`);
  return found;
};
const variants = (id: string) => ({ bad: incident(id).variants[0]!, goods: incident(id).variants.slice(1) });
const fired = (v: LabVariant): string[] => v.alerts.filter((a) => a.firedAt !== null).map((a) => a.name);
const num = (v: LabVariant, field: string): number => Number(v.summary[field]);
const lastOf = (v: LabVariant, metric: string): number | undefined =>
  v.series.filter((p) => p.metric === metric).at(-1)?.value;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "clinic-edge-lab-test-"));
  // Exit code 1 (a check failed) still writes run.json: the assertions below say which.
  printed = await run(process.execPath, ["lab/lab.ts", "all", "--seconds", "5", "--out", out], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  }).then(
    ({ stdout }) => stdout,
    (err: unknown) => {
      if (!(err instanceof Error && "code" in err && err.code === 1 && "stdout" in err)) throw err;
      return String(err.stdout);
    },
  );
  const [stamp] = await readdir(out);
  lab = JSON.parse(await readFile(join(out, stamp!, "run.json"), "utf8")) as LabRun;
}, 480_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe("npm run lab -- all", () => {
  it("runs every incident, bad variant first", () => {
    expect(lab.incidents.map((i) => i.id)).toEqual([
      "connection-storm",
      "n-plus-one",
      "leaked-work",
      "memory-growth",
      "upstream-outage",
      "cache-stampede",
      "deploy-during-traffic",
      "schema-change",
      "slow-request",
    ]);
    for (const i of lab.incidents) expect(i.variants[0]!.kind, i.id).toBe("bad");
  });

  it("ends with an overview: a row per incident, the alert its bad run fired, none in its good runs", () => {
    const overview = printed.slice(printed.indexOf("== All incidents"));
    expect(overview).toMatch(/^== All incidents \(5 s of load per variant, /);
    for (const i of lab.incidents) {
      const row = overview.split("\n").find((line) => line.startsWith(`${i.id} `));
      expect(row, i.id).toMatch(new RegExp(` none +${i.checks.length} of ${i.checks.length}$`));
      expect(fired(i.variants[0]!).length, i.id).toBeGreaterThan(0);
      for (const alert of fired(i.variants[0]!)) expect(row, i.id).toMatch(new RegExp(`  (.*, )?${alert} at \\d+ s`));
    }
  });

  it("fires each incident's alert in its bad run and no alert in any good run", () => {
    const expected: Record<string, string> = {
      "connection-storm": "PostgresConnectionsNearLimit",
      "n-plus-one": "NPlusOneQueries",
      "leaked-work": "RequestsPilingUp",
      "memory-growth": "IsolateMemoryGrowing",
      "upstream-outage": "UpstreamCallsFailing",
      "cache-stampede": "CacheStampede",
      "deploy-during-traffic": "ServerErrors",
      "schema-change": "ServerErrors",
      "slow-request": "SlowRequests",
    };
    for (const [id, alert] of Object.entries(expected)) {
      const { bad, goods } = variants(id);
      expect(fired(bad), id).toContain(alert);
      for (const good of goods) expect(fired(good), `${id}: ${good.name}`).toEqual([]);
    }
  });

  it("sends 1 statement a request for the page of doctors, 21 from the query loop", () => {
    const { bad, goods } = variants("n-plus-one");
    expect(num(goods[0]!, "queries/request")).toBe(1);
    expect(num(bad, "queries/request")).toBe(21);
  });

  it("reads a cold key from Postgres once through the Coalescer, once per reader without", () => {
    const { bad, goods } = variants("cache-stampede");
    expect(num(goods[0]!, "reads per key")).toBeLessThanOrEqual(1.5);
    expect(num(bad, "reads per key")).toBeGreaterThanOrEqual(10);
  });

  it("bounds the calls reaching a dead insurer with either breaker", () => {
    const { bad, goods } = variants("upstream-outage");
    expect(num(bad, "insurer calls")).toBeGreaterThanOrEqual(num(bad, "requests"));
    for (const good of goods) expect(num(good, "insurer calls"), good.name).toBeLessThanOrEqual(20);
  });

  it("brings in-flight requests and backends back to zero with deadlines, not without", () => {
    const { bad, goods } = variants("leaked-work");
    expect(lastOf(goods[0]!, "in_flight")).toBe(0);
    expect(lastOf(goods[0]!, "pg_backends")).toBe(0);
    expect((lastOf(bad, "in_flight") ?? 0) + (lastOf(bad, "pg_backends") ?? 0)).toBeGreaterThan(0);
  });

  it("answers 500s and loses post-response work when objects reset mid-load; neither with retries and waitUntil", () => {
    const { bad, goods } = variants("deploy-during-traffic");
    const good = goods[0]!;
    expect(num(bad, "unexpected 5xx")).toBeGreaterThan(0);
    expect(num(bad, "records landed")).toBeLessThan(num(bad, "reads answered"));
    expect(num(good, "unexpected 5xx")).toBe(0);
    expect(num(good, "records landed")).toBe(num(good, "reads answered"));
    expect(num(good, "object retries")).toBeGreaterThan(0);
  });

  it("fails v1's requests after a breaking rename while v2, on the new column, keeps working", () => {
    const { bad } = variants("schema-change");
    expect(num(bad, "v1 5xx")).toBeGreaterThan(0);
    expect(num(bad, "v2 5xx")).toBe(0);
    expect(num(bad, "v2 2xx")).toBeGreaterThan(0);
  });

  it("serves from v1 and v2 side by side through expand/contract without a 5xx, each reading the other's writes", () => {
    const good = variants("schema-change").goods[0]!;
    const errors = good.series.filter((p) => p.metric === "errors_5xx").reduce((s, p) => s + p.value, 0);
    expect(errors).toBe(0);
    expect(num(good, "v1 2xx")).toBeGreaterThan(0);
    expect(num(good, "v2 2xx")).toBeGreaterThan(0);
    expect(num(good, "cross writes")).toBeGreaterThan(0);
    expect(num(good, "saw the write")).toBe(num(good, "cross writes"));
  });

  it("points the slowest request's trace at the insurer call", () => {
    const trace = incident("slow-request").trace;
    const slowest = trace?.spans.find((s) => s.spanId === trace.slowestSpanId);
    expect(slowest?.durationMs).toBeGreaterThan(1_000);
    expect(slowest?.name).toMatch(/eligibility/);
    expect(slowest?.spanId).not.toBe(trace?.spans[0]?.spanId);
  });

  it("passes every incident's own checks", () => {
    const failed = lab.incidents.flatMap((i) =>
      i.checks.filter((c) => !c.passed).map((c) => `${i.id}: ${c.name}: ${c.detail}`),
    );
    expect(failed).toEqual([]);
  });
});
