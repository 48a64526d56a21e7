/**
 * The incident lab's report (lab/report/render.ts) on a run shaped like a real one: one
 * self-contained page whose every chart is an inline SVG with marks, and which Debian's chromium,
 * headless via puppeteer-core, shows with every chart drawn, the waterfall's slow span in sight and
 * the summary tables filled, while the page asks for nothing over the network.
 *
 * The browser half needs /usr/bin/chromium (CHROMIUM_PATH overrides), as test/node/docs-browser.test.ts.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import puppeteer, { type Browser } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderReport } from "../../lab/report/render.ts";
import { chartsFor } from "../../lab/report/series-chart.ts";
import { labRunFixture } from "./lab-run-fixture.ts";
import { guardPage } from "./page-guard.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: CI must install chromium (.ci/run does)`);
  console.warn(`[lab-report] browser test skipped: no browser at ${CHROMIUM}`);
}

const run = labRunFixture();
let html = "";

beforeAll(async () => {
  html = await renderReport(run);
});

/** Each chart's figure, by its data-chart kind, in page order. */
function figures(page: string): Array<{ kind: string; body: string }> {
  return [...page.matchAll(/<figure class="chart" data-chart="([^"]+)">([\s\S]*?)<\/figure>/g)].map((m) => ({
    kind: m[1]!,
    body: m[2]!,
  }));
}

describe("the report page", () => {
  test("has one chart per quantity the incident carries, plus the alerts, and a waterfall for the trace", () => {
    const expected = run.incidents.flatMap((incident) => [
      ...chartsFor(incident).map((chart) => `series:${chart.kind}`),
      "alerts",
      ...(incident.trace ? ["waterfall"] : []),
    ]);
    expect(figures(html).map((f) => f.kind)).toEqual(expected);
  });

  test("draws every chart as an inline SVG with marks in it", () => {
    for (const { kind, body } of figures(html)) {
      expect(body, kind).toMatch(/^<svg[^>]*>/);
      expect(body, kind).toMatch(/class="mark-(line|symbol|rect|text)[^"]*role-mark/);
    }
  });

  test("puts bad and good side by side: each series chart names every variant", () => {
    for (const incident of run.incidents) {
      const section = html.slice(html.indexOf(`<section id="${incident.id}">`));
      const first = figures(section)[0]!;
      for (const variant of incident.variants) expect(first.body).toContain(`>${variant.name}<`);
    }
  });

  test("loads nothing: no script, no stylesheet or image link, no http(s) URL but the SVG namespaces", () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link|<img|<iframe|@import|url\(/i);
    // xmlns values name a namespace; a browser never fetches them.
    const outsideNamespaces = html.replace(/xmlns(:\w+)?="[^"]*"/g, "");
    expect(outsideNamespaces.match(/https?:\/\/[^\s"'<>)]+/g) ?? []).toEqual([]);
  });

  test("reads as a page: a title, a contents entry and a heading and sentence per incident", () => {
    expect(html).toMatch(/<title>clinic-edge incident lab/);
    for (const incident of run.incidents) {
      expect(html).toContain(`<a href="#${incident.id}">`);
      expect(html).toContain(`<section id="${incident.id}"><h2>`);
      expect(html).toContain(`npm run lab -- ${incident.id}`);
    }
    expect(html).toContain("A per-row query loop sends one statement per doctor");
  });

  test("escapes what the run says: markup in a variant name stays text", async () => {
    const hostile = labRunFixture();
    hostile.incidents[0]!.variants[0]!.name = "bad: <img src=x>";
    const page = await renderReport(hostile);
    expect(page).not.toContain("<img src=x>");
    expect(page).toContain("bad: &lt;img src=x&gt;");
  });
});

describe.skipIf(!HAVE_CHROMIUM)("the report in headless chromium", () => {
  let browser: Browser | undefined;
  let dir = "";
  let url = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "clinic-edge-lab-report-"));
    const file = join(dir, "report.html");
    await writeFile(file, html);
    url = pathToFileURL(file).href;
    // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("draws every chart, shows the slow span with its label, fills the summary tables, and fetches nothing", async () => {
    const page = await browser!.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    const guard = await guardPage(page, (requested) => requested === url);
    await page.goto(url, { waitUntil: "load" });

    // Page code as strings: this file is typed for Node, without the DOM's types.
    const charts = (await page.evaluate(`[...document.querySelectorAll("figure.chart")].map((f) => {
      const svg = f.querySelector("svg");
      const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      const marks = [...f.querySelectorAll(".role-mark path, .role-mark text")]
        .map((m) => m.getBoundingClientRect()).filter((b) => b.width > 0 || b.height > 0);
      return { kind: f.dataset.chart, width: box.width, height: box.height, marks: marks.length };
    })`)) as Array<{ kind: string; width: number; height: number; marks: number }>;
    expect(charts.length).toBe(figures(html).length);
    for (const chart of charts) {
      expect(chart.width, chart.kind).toBeGreaterThan(100);
      expect(chart.height, chart.kind).toBeGreaterThan(50);
      expect(chart.marks, chart.kind).toBeGreaterThan(0);
    }

    const slowest = (await page.evaluate(`(() => {
      const figure = document.querySelector('figure[data-chart="waterfall"]');
      const bar = figure.querySelector(".slowest_marks path").getBoundingClientRect();
      const plot = figure.querySelector(".spans_marks").getBoundingClientRect();
      const labels = [...figure.querySelectorAll(".slowest_label_inside_marks text, .slowest_label_marks text")];
      return { bar: { width: bar.width, height: bar.height }, plotWidth: plot.width,
               fill: getComputedStyle(figure.querySelector(".slowest_marks path")).fill,
               labels: labels.map((t) => ({ text: t.textContent, width: t.getBoundingClientRect().width })) };
    })()`)) as {
      bar: { width: number; height: number };
      plotWidth: number;
      fill: string;
      labels: Array<{ text: string; width: number }>;
    };
    expect(slowest.bar.height).toBeGreaterThan(0);
    // 1,312 of 1,380 ms: the bar spans most of the plot.
    expect(slowest.bar.width).toBeGreaterThan(slowest.plotWidth * 0.8);
    expect(slowest.fill).toBe("rgb(220, 38, 38)");
    expect(slowest.labels).toEqual([{ text: "slowest: db.query 1,312 ms", width: expect.any(Number) as number }]);
    expect(slowest.labels[0]!.width).toBeGreaterThan(0);

    const tables = (await page.evaluate(`[...document.querySelectorAll("table.summary")].map((t) => ({
      columns: [...t.querySelectorAll("thead th")].map((th) => th.textContent),
      rows: [...t.querySelectorAll("tbody tr")].map((tr) => [...tr.children].map((c) => c.textContent)),
    }))`)) as Array<{ columns: string[]; rows: string[][] }>;
    expect(tables.map((t) => t.columns.slice(1))).toEqual(run.incidents.map((i) => i.variants.map((v) => v.name)));
    const nPlusOne = tables[0]!.rows;
    expect(nPlusOne.find((r) => r[0] === "requests")?.slice(1)).toEqual(
      run.incidents[0]!.variants.map((v) => (v.summary.requests as number).toLocaleString("en-US")),
    );
    expect(nPlusOne.find((r) => r[0] === "alerts fired")?.slice(1)).toEqual(["NPlusOneQueries", "none"]);

    expect(guard.refused).toEqual([]);
    expect(guard.errors).toEqual([]);
  }, 60_000);
});
