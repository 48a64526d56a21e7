/**
 * The chaos soak, short: two minutes of the mixed workload under every fault kind, on the database
 * the suite runs on (embedded, or DATABASE_URL's server), and every invariant holds. The fault
 * schedule's own promises are checked apart, without a stack.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { checkHistory } from "../../soak/checker.ts";
import type { Attempt } from "../../soak/history.ts";
import type { Summary } from "../../soak/report.ts";
import { seeded } from "../../soak/random.ts";
import { FAULT_KINDS, GRACE_MS, faultSchedule } from "../../soak/schedule.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("the fault schedule", () => {
  test("the same seed gives the same schedule", () => {
    expect(faultSchedule(120_000, seeded(7))).toEqual(faultSchedule(120_000, seeded(7)));
  });

  test("a two-minute run meets every fault kind, each window a grace period apart from the next", () => {
    for (const seed of [1, 2, 3, 42]) {
      const windows = faultSchedule(120_000, seeded(seed));
      expect(new Set(windows.map((w) => w.kind))).toEqual(new Set(FAULT_KINDS));
      for (const [i, w] of windows.entries()) {
        const next = windows[i + 1];
        if (next) expect(next.startMs).toBeGreaterThan(w.startMs + w.durationMs + GRACE_MS);
      }
    }
  });
});

describe("the history checker", () => {
  const attempt = (over: Partial<Attempt>): Attempt => ({
    op: 1,
    kind: "book",
    attempt: 1,
    method: "POST",
    path: "/appointments",
    requestHeaders: { "x-request-id": "soak-1-1" },
    startMs: 20_000,
    endMs: 20_010,
    status: 201,
    answer: "{}",
    ...over,
  });
  const failed = (attempts: Attempt[]): string[] =>
    checkHistory(attempts, [{ kind: "db-outage", startMs: 10_000, durationMs: 3_000 }])
      .filter((i) => !i.passed)
      .map((i) => i.name);

  test("a 500 fails it, at any time", () => {
    expect(failed([attempt({ status: 500, startMs: 11_000 })])).toEqual(["no 500"]);
  });

  test("a 503 inside a fault window or its grace period passes; one after the grace period fails", () => {
    const answer = '{"writeOutcome":"not-applied"}';
    expect(failed([attempt({ status: 503, startMs: 17_000, endMs: 17_500, answer })])).toEqual([]);
    expect(failed([attempt({ status: 504, startMs: 18_100, endMs: 18_200, answer })])).toEqual([
      "503/504 only in fault windows",
    ]);
  });

  test("a 503 to a write that does not say whether it was applied fails it; a read's needs not say", () => {
    expect(failed([attempt({ status: 503, startMs: 11_000, answer: "{}" })])).toEqual([
      "failed writes say their outcome",
    ]);
    expect(
      failed([attempt({ status: 503, startMs: 11_000, method: "GET", kind: "availability", answer: "{}" })]),
    ).toEqual([]);
  });

  test("a replay of an Idempotency-Key whose answer differs from the first fails it", () => {
    const key = { "x-request-id": "soak-1-1", "idempotency-key": "k" };
    expect(
      failed([
        attempt({ requestHeaders: key, answer: '{"id":"a"}' }),
        attempt({ requestHeaders: { ...key, "x-request-id": "soak-1-2" }, attempt: 2, answer: '{"id":"b"}' }),
      ]),
    ).toEqual(["replays identical"]);
  });
});

function soak(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["run", "soak", "--", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

test("a two-minute soak under every fault kind passes every invariant", { timeout: 600_000 }, async () => {
  const { code, output } = await soak(["--minutes", "2", "--rate", "10", "--seed", "2"]);
  const dir = /\[soak\] report in (.+)$/m.exec(output)?.[1];
  expect(dir, output.slice(-4_000)).toBeDefined();
  const summary = JSON.parse(await readFile(`${dir}/summary.json`, "utf8")) as Summary;
  expect(new Set(summary.faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
  expect(summary.faults.filter((f) => f.error)).toEqual([]);
  expect(summary.invariants.filter((i) => !i.passed)).toEqual([]);
  expect(summary.invariants.length).toBeGreaterThanOrEqual(11);
  expect(code).toBe(0);
});
