/**
 * pprof for the local Worker: attaches to the runtime's inspector that `npm run dev` (wrangler dev)
 * exposes and speaks the Chrome DevTools Protocol to it — there is no in-process profiler on Workers.
 *
 *   npm run profile:cpu -- --seconds 10          CPU profile while you load the API  -> .cpuprofile
 *   npm run profile:heap                         one heap snapshot                   -> .heapsnapshot
 *   npm run profile:heap-growth -- --requests 2000 --path /doctors?limit=20
 *                                                snapshot, N requests, snapshot: prints the growth
 *
 * Options: --inspector host:port (default 127.0.0.1:9229, wrangler dev's), --out FILE,
 * --base http://127.0.0.1:8787 (heap-growth's target), --token JWT (heap-growth's bearer token for
 * routes that need one: `--token "$(npm run --silent token -- --role admin)"`). Both file kinds open
 * in Chrome DevTools (Performance / Memory tabs) or in VS Code.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { StatusTally, refuseOnFailures } from "../bench/lib/failures.ts";
import { Inspector, heapSnapshot, retainedBytes } from "./inspector.ts";

async function cpuProfile(inspector: Inspector, seconds: number): Promise<string> {
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.start");
  console.log(`[profile] recording CPU for ${seconds} s: send the API some load now`);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
  const { profile } = await inspector.send<{ profile: unknown }>("Profiler.stop");
  return JSON.stringify(profile);
}

/** `requests` GETs of `path`, 10 at a time; every answer counted by status. */
async function load(base: string, path: string, requests: number, token: string | undefined): Promise<StatusTally> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const statuses = new StatusTally();
  const concurrency = 10;
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < requests) {
        sent++;
        const res = await fetch(base + path, { headers }).catch(() => undefined);
        statuses.add(res?.status ?? 0);
        await res?.arrayBuffer();
      }
    }),
  );
  return statuses;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: "string", default: "10" },
      inspector: { type: "string", default: "127.0.0.1:9229" },
      out: { type: "string" },
      base: { type: "string", default: "http://127.0.0.1:8787" },
      path: { type: "string", default: "/doctors?limit=20" },
      requests: { type: "string", default: "2000" },
      token: { type: "string" },
    },
  });
  const mode = positionals[0];
  const host = new URL(values.base).hostname;
  if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) throw new Error("--base must be a local address");
  const stamp = new Date().toISOString().replaceAll(":", "-").slice(0, 19);
  const inspector = await Inspector.connect(values.inspector);
  try {
    if (mode === "cpu") {
      const seconds = Math.min(600, Math.max(1, Number(values.seconds)));
      const out = values.out ?? `clinic-edge-${stamp}.cpuprofile`;
      await writeFile(out, await cpuProfile(inspector, seconds));
      console.log(`[profile] wrote ${out} (open it in Chrome DevTools > Performance, or VS Code)`);
    } else if (mode === "heap") {
      const out = values.out ?? `clinic-edge-${stamp}.heapsnapshot`;
      await writeFile(out, await heapSnapshot(inspector));
      console.log(`[profile] wrote ${out} (open it in Chrome DevTools > Memory > Load)`);
    } else if (mode === "heap-growth") {
      const requests = Math.min(100_000, Math.max(1, Number(values.requests)));
      // Warm up (first-use allocations are not growth), and find out early if the requests fail.
      refuseOnFailures(`warm-up GET ${values.path}`, await load(values.base, values.path, 200, values.token));
      const before = retainedBytes(await heapSnapshot(inspector));
      const statuses = await load(values.base, values.path, requests, values.token);
      const after = retainedBytes(await heapSnapshot(inspector));
      refuseOnFailures(`${requests} × GET ${values.path}`, statuses);
      const growth = after - before;
      console.log(`[profile] ${requests} × GET ${values.path} (${statuses.breakdown()})`);
      console.log(`[profile] retained heap: ${(before / 1024).toFixed(0)} KiB -> ${(after / 1024).toFixed(0)} KiB`);
      console.log(
        `[profile] growth: ${(growth / 1024).toFixed(1)} KiB, ${(growth / requests).toFixed(1)} bytes per request`,
      );
    } else {
      throw new Error(
        "usage: node dev/profile.ts cpu|heap|heap-growth [--seconds N] [--out FILE] [--inspector host:port]",
      );
    }
  } finally {
    inspector.close();
  }
}

await main();
