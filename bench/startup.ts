/**
 * `npm run bench:startup -- [--runs 10] <bundle> [<bundle>...]`: what a Worker bundle costs a fresh
 * isolate before its first answer. Each run starts workerd (Miniflare) on the bundle, waits until it
 * is ready and sends one GET /healthz: the wall time to the first answer and the CPU workerd spent,
 * against an empty Worker (`new Response("ok")`) started the same way in the same run, so workerd's
 * own start is subtracted. The bundles alternate run by run. Prints medians per bundle.
 *
 * A bundle from another commit: see bench/compare.ts' header (`npm run build` in a worktree).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { markdownTable } from "./lib/ab.ts";
import { wholeNumber } from "./lib/cli.ts";
import { childrenOf, cpuMs } from "./lib/proc.ts";
import { wranglerSettings } from "./lib/stack.ts";
import { startPlainWorker } from "./lib/worker.ts";
import { statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: "string", default: "10" } },
});
const runs = wholeNumber(values.runs, "runs", 1, 100);
if (positionals.length === 0) {
  console.error("usage: npm run bench:startup -- [--runs 10] <bundle.js> [<bundle.js>...]");
  process.exit(2);
}

const settings = wranglerSettings();
// /healthz touches no database and no Durable Object (the rate limiter off); the URL must only parse.
const bindings = {
  ...settings.bindings,
  DATABASE_URL: "postgres://bench@127.0.0.1:1/none",
  RATE_LIMIT_REQUESTS: "0",
  RATE_LIMIT_WRITE_REQUESTS: "0",
};

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** One fresh workerd on `scriptPath`: time and workerd CPU from start to the first answer. */
async function once(scriptPath: string): Promise<Sample> {
  const before = new Set(childrenOf(process.pid, "workerd"));
  const started = performance.now();
  const worker = await startPlainWorker({
    scriptPath,
    compatibilityDate: settings.compatibilityDate,
    compatibilityFlags: settings.compatibilityFlags,
    bindings,
  });
  try {
    const res = await fetch(`${worker.url}/healthz`);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${scriptPath}: GET /healthz answered ${res.status}`);
    const wallMs = performance.now() - started;
    const spawned = childrenOf(process.pid, "workerd").filter((pid) => !before.has(pid));
    return { wallMs, cpuMs: spawned.reduce((sum, pid) => sum + cpuMs(pid), 0) };
  } finally {
    await worker.dispose();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const dir = await mkdtemp(join(tmpdir(), "clinic-edge-bench-startup-"));
try {
  const empty = join(dir, "empty.js");
  await writeFile(empty, 'export default { fetch() { return new Response("ok"); } };\n');
  const bundles = [empty, ...positionals.map((p) => resolve(p))];
  const samples = new Map<string, Sample[]>(bundles.map((b) => [b, []]));
  for (let run = 0; run < runs; run++) {
    for (let i = 0; i < bundles.length; i++) {
      const bundle = bundles[(i + run) % bundles.length]!;
      samples.get(bundle)!.push(await once(bundle));
    }
    console.error(`[bench] run ${run + 1}/${runs}`);
  }
  const base = samples.get(empty)!;
  const baseWall = median(base.map((s) => s.wallMs));
  const baseCpu = median(base.map((s) => s.cpuMs));
  const rows = bundles.map((bundle) => {
    const s = samples.get(bundle)!;
    const wall = median(s.map((x) => x.wallMs));
    const cpu = median(s.map((x) => x.cpuMs));
    const size = statSync(bundle).size;
    const gz = gzipSync(readFileSync(bundle)).length;
    return [
      bundle === empty
        ? "empty Worker"
        : `${basename(resolve(bundle, "../.."))}/${basename(resolve(bundle, ".."))}/${basename(bundle)}`,
      `${(size / 1024).toFixed(0)} / ${(gz / 1024).toFixed(0)}`,
      wall.toFixed(0),
      bundle === empty ? "-" : (wall - baseWall).toFixed(0),
      cpu.toFixed(0),
      bundle === empty ? "-" : (cpu - baseCpu).toFixed(0),
    ];
  });
  console.log(`${runs} runs per bundle, alternated; medians`);
  console.log(
    markdownTable(
      ["bundle", "KiB raw / gzip", "start to first answer ms", "over empty ms", "workerd CPU ms", "over empty ms"],
      rows,
    ),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
