/**
 * The chaos soak, short: two minutes of the mixed workload under every fault kind, on the database
 * the suite runs on (embedded, or DATABASE_URL's server), and every invariant holds. The fault
 * schedule's own promises are checked apart, without a stack.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
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
