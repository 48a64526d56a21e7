/**
 * The shipped Prometheus rules (ops/prometheus/): promtool accepts them, their unit tests pass (each
 * alert fires on a synthetic series and stays silent on a healthy one), every alert carries what an
 * operator needs, and the lab's compression turns every duration into seconds.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { RULES_FILE, alertNames, compressRules } from "../../lab/prometheus.ts";

const run = promisify(execFile);
const TESTS_FILE = join(RULES_FILE, "..", "clinic-edge.test.yml");
const RUNBOOK_BASE = "https://github.com/clinic-edge/clinic-edge/blob/main/docs/runbooks/";
const rules = readFileSync(RULES_FILE, "utf8");

describe("ops/prometheus", () => {
  it("passes promtool check rules", async () => {
    const { stdout } = await run("promtool", ["check", "rules", RULES_FILE]);
    expect(stdout).toContain("SUCCESS");
  });

  it("passes promtool test rules", async () => {
    const { stdout, stderr } = await run("promtool", ["test", "rules", TESTS_FILE]);
    expect(`${stdout}${stderr}`).toContain("SUCCESS");
  });

  it("has a firing and a silent unit test for every alert", () => {
    const tests = readFileSync(TESTS_FILE, "utf8");
    for (const name of alertNames(rules)) {
      expect(tests, name).toMatch(new RegExp(`# ${name}: fires`));
      expect(tests, name).toMatch(new RegExp(`# ${name}: silent`));
    }
  });

  it("gives every alert a severity, a summary, a description and a runbook under docs/runbooks", () => {
    const blocks = rules.split(/^\s*- alert: /m).slice(1);
    expect(blocks).toHaveLength(alertNames(rules).length);
    for (const block of blocks) {
      const name = block.split("\n")[0];
      expect(block, name).toMatch(/severity: (critical|warning)/);
      expect(block, name).toMatch(/summary: /);
      expect(block, name).toMatch(/description: /);
      expect(block, name).toMatch(new RegExp(`runbook_url: ${RUNBOOK_BASE}[a-z-]+\\.md`));
    }
  });

  it("compresses every duration for the lab: minutes become seconds", () => {
    const compressed = compressRules(rules);
    expect(compressed).not.toMatch(/\[\d+m\]|for: \d+m/);
    expect(compressed).toContain("for: 1s");
    expect(compressed).toContain("[5s]");
  });

  it("refuses to compress a duration that is not in minutes", () => {
    expect(() => compressRules("      - alert: X\n        expr: up\n        for: 1h\n")).toThrow(/cannot compress/);
    expect(() => compressRules("        expr: rate(x[30s]) > 0\n")).toThrow(/cannot compress/);
  });
});
