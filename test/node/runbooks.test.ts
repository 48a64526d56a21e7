/**
 * docs/runbooks/ has a page per incident of the lab, each in the same shape, and stays true to the
 * code: its links resolve (files and headings), every metric it names is one clinic-edge registers,
 * and every shipped alert's runbook_url points at a page that exists.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, test } from "vitest";
import { registry } from "../../functions/observability/metrics.ts";
import { INCIDENTS as LAB } from "../../lab/incidents/index.ts";
import { ROOT } from "./dev-harness.ts";

const RUNBOOKS = join(ROOT, "docs", "runbooks");
const INCIDENTS = LAB.map((incident) => incident.id);
/** How each page's failure is reproduced: the lab's run of it. */
const reproduce = (id: string): string => `npm run lab -- ${id}\n`;
const SECTIONS = ["## Symptom", "## In `/metrics`", "## Traces and logs", "## Confirm", "## Fix", "## Reproduce"];
const RUNBOOK_BASE = "https://github.com/clinic-edge/clinic-edge/blob/main/docs/runbooks/";
/** Postgres settings the pages name, which share a prefix with our metrics. */
const POSTGRES_SETTINGS = new Set(["client_connection_check_interval"]);
const RULES = join(ROOT, "ops", "prometheus", "clinic-edge.rules.yml");

const read = (file: string): string => readFileSync(file, "utf8");
const pages = (): string[] => readdirSync(RUNBOOKS).filter((f) => f.endsWith(".md"));

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchors(file: string): Set<string> {
  return new Set([...read(file).matchAll(/^#+\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

describe("the runbooks", () => {
  test.each(INCIDENTS)("%s has a page with every section and the command that reproduces it", (id) => {
    const page = read(join(RUNBOOKS, `${id}.md`));
    for (const section of SECTIONS) expect(page, `${id}: ${section}`).toContain(`\n${section}\n`);
    expect(page).toMatch(/^\*\*Alerts?:\*\* `[A-Za-z]+`/m);
    expect(page).toContain(reproduce(id));
  });

  test("the index links every page and nothing else", () => {
    const linked = [...read(join(RUNBOOKS, "README.md")).matchAll(/\]\(([a-z-]+)\.md\)/g)].map((m) => m[1]);
    expect(new Set(linked)).toEqual(new Set(INCIDENTS));
    expect(pages().sort()).toEqual([...INCIDENTS.map((id) => `${id}.md`), "README.md"].sort());
  });

  test("every relative link reaches a file, and its heading when it names one", () => {
    const broken: string[] = [];
    for (const name of pages()) {
      const file = join(RUNBOOKS, name);
      for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split("#") as [string, string | undefined];
        const dest = path === "" ? file : resolve(dirname(file), path);
        if (!existsSync(dest)) broken.push(`${name}: ${target} (no file)`);
        else if (anchor && dest.endsWith(".md") && !anchors(dest).has(anchor))
          broken.push(`${name}: ${target} (no heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  test("every clinic-edge metric they name is registered", () => {
    const series = new Set(
      registry
        .collect()
        .flatMap((m) => (m.type === "histogram" ? ["", "_bucket", "_sum", "_count"].map((s) => m.name + s) : [m.name])),
    );
    // Log fields share some prefixes (`coalescer`, `breaker`): a metric name has an underscore, or is `inflight`.
    const ours = /^(http|db|breaker|coalescer|ratelimit|requests|deadline|client|background)_|^inflight$/;
    const named = pages().flatMap((name) =>
      [...read(join(RUNBOOKS, name)).matchAll(/`([a-z_]+)(\{[^`]*\})?`/g)]
        .map((m) => m[1]!)
        .filter((n) => ours.test(n) && !POSTGRES_SETTINGS.has(n)),
    );
    expect(named.length).toBeGreaterThan(30);
    expect([...new Set(named)].filter((n) => !series.has(n))).toEqual([]);
  });

  test("every shipped alert's runbook_url is a page here", () => {
    const urls = [...read(RULES).matchAll(/runbook_url:\s*(\S+)/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) {
      expect(url.startsWith(RUNBOOK_BASE), url).toBe(true);
      expect(existsSync(join(RUNBOOKS, url.slice(RUNBOOK_BASE.length))), url).toBe(true);
    }
  });
});
