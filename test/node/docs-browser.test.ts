/**
 * /docs renders the API reference with no network but the Worker's own origin: Debian's chromium,
 * driven headless by puppeteer-core (which never downloads a browser), opens the page as served by
 * `wrangler dev` (static assets included) and finds every operation, while any request to another
 * origin is blocked and recorded, and so is every console error (a CSP violation is one).
 *
 * Needs /usr/bin/chromium (CHROMIUM_PATH overrides): .ci/run installs it; without it the test is
 * skipped locally with a message, and fails under CI.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureDocsAssets } from "../../dev/docs-assets.ts";
import { devEnv, distinctFreePorts, killGroup, ROOT, within } from "./dev-harness.ts";
import { guardPage } from "./page-guard.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: CI must install chromium (.ci/run does)`);
  console.warn(`[docs-browser] skipped: no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
}

/** Every operation's summary, as the contract lists them. */
async function summaries(): Promise<string[]> {
  const doc = JSON.parse(await readFile(join(ROOT, "client", "openapi.json"), "utf8")) as {
    paths: Record<string, Record<string, { summary?: string }>>;
  };
  return Object.values(doc.paths).flatMap((item) => Object.values(item).flatMap((op) => op.summary ?? []));
}

describe.skipIf(!HAVE_CHROMIUM)("/docs in headless chromium", () => {
  let worker: ChildProcess | undefined;
  let browser: Browser | undefined;
  let base = "";
  let state: string | undefined;

  beforeAll(async () => {
    ensureDocsAssets();
    const [port, inspector] = await distinctFreePorts(2);
    base = `http://127.0.0.1:${port}`;
    let output = "";
    // /docs and /openapi.json touch no database: the URL only has to be well-formed.
    worker = spawn(
      join(ROOT, "node_modules", ".bin", "wrangler"),
      ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector)]
        .concat(["--var", "DATABASE_URL:postgres://u@127.0.0.1:1/x", "--var", "RATE_LIMIT_REQUESTS:0"])
        .concat(["--persist-to", (state = await mkdtemp(join(tmpdir(), "clinic-edge-docs-")))]),
      { cwd: ROOT, env: devEnv({}), stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    worker.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    worker.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const up = async (): Promise<void> => {
      for (;;) {
        const res = await fetch(`${base}/healthz`).catch(() => undefined);
        if (res?.ok) return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    await within(up(), 60_000, () => `wrangler dev did not answer on ${base}:\n${output.slice(-2_000)}`);
    // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    killGroup(worker?.pid);
    if (state) await rm(state, { recursive: true, force: true });
  });

  test("shows every operation, asking nothing of any other origin and breaking no CSP rule", async () => {
    const page = await browser!.newPage();
    // Wide enough for the sidebar that lists every operation.
    await page.setViewport({ width: 1400, height: 1000 });
    // CSP violations, failed loads and script errors all surface as errors.
    const guard = await guardPage(
      page,
      (url) => url.startsWith(`${base}/`) || url.startsWith("data:") || url.startsWith("blob:"),
    );
    const res = await page.goto(`${base}/docs`, { waitUntil: "networkidle0", timeout: 60_000 });
    expect(res?.status()).toBe(200);
    const expected = await summaries();
    expect(expected.length).toBeGreaterThan(20);
    // Page code as strings: this file is typed for Node, without the DOM's types.
    await page.waitForFunction(`document.body.innerText.includes(${JSON.stringify(expected[0])})`, { timeout: 30_000 });
    const text = String(await page.evaluate("document.body.innerText"));
    const missing = expected.filter((summary) => !text.includes(summary));
    expect(missing).toEqual([]);
    expect(guard.refused).toEqual([]);
    expect(guard.errors).toEqual([]);
  }, 120_000);
});
