/**
 * Benches and profiling tools refuse to report on failed work (bench/lib/failures.ts): more than 1 %
 * of requests failed -> exit 1 with the breakdown by status and what to do, and no figures.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const FAILURES = fileURLToPath(new URL("../../bench/lib/failures.ts", import.meta.url));

/** Runs refuseOnFailures on a tally of `counts` in its own process, then prints "reported". */
function verdict(counts: Record<string, number>) {
  const script = `
    import { StatusTally, refuseOnFailures } from ${JSON.stringify(FAILURES)};
    const tally = new StatusTally();
    for (const [status, n] of Object.entries(${JSON.stringify(counts)})) tally.add(Number(status) || status, n);
    refuseOnFailures("2000 × GET /doctors?limit=20", tally);
    console.log("reported");`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("refuseOnFailures", () => {
  test("stops with exit 1, the breakdown by status and the cause when more than 1 % failed", () => {
    const run = verdict({ 429: 1902, 200: 98 });
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain("reported");
    expect(run.stderr).toContain("1902 of 2000 requests failed");
    expect(run.stderr).toContain("429 × 1902, 200 × 98");
    expect(run.stderr).toMatch(/429: a rate limit stopped them/);
  });

  test("counts network errors as failures", () => {
    const run = verdict({ 0: 30, 200: 970 });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("network-error × 30");
  });

  test("lets a run with at most 1 % failures report", () => {
    const run = verdict({ 200: 990, 503: 10 });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("reported");
  });

  test("refuses a run that got no answers at all", () => {
    expect(verdict({}).code).toBe(1);
  });
});
