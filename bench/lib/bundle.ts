/**
 * Bundles a bench builds itself: clinic-edge exactly as it deploys (wrangler), a bench's own Worker
 * (esbuild), and which code a bundle is, since the tree is shared and edited while benches run.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { build } from "esbuild";
import { ROOT } from "./stack.ts";

/** Runs a command in the repository to completion (bounded); rejects with its output when it fails. */
export async function run(command: string, args: string[], timeoutMs: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      signal,
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code, sig) => {
      if (code === 0) resolve(output);
      else
        reject(new Error(`${command} ${args.join(" ")} failed (${sig ?? `exit ${code}`}):\n${output.slice(-4_000)}`));
    });
  });
}

/** clinic-edge as it deploys, `wrangler deploy --dry-run --outdir <outdir>`: the bundle's path. */
export async function bundleAsDeployed(outdir: string, signal: AbortSignal): Promise<string> {
  await run("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], 180_000, signal);
  const entry = (await readdir(outdir)).find((f) => f.endsWith(".js"));
  if (!entry) throw new Error(`wrangler wrote no .js bundle into ${outdir}`);
  return join(outdir, entry);
}

/** Which clinic-edge a bundle is: the commit, whether the Worker's sources had changed since, and its hash. */
export async function codeIdentity(bundle: string, signal: AbortSignal): Promise<string> {
  const head = (await run("git", ["rev-parse", "--short", "HEAD"], 10_000, signal)).trim();
  const changed = (
    await run("git", ["status", "--porcelain", "--", "functions", "db", "wrangler.toml"], 10_000, signal)
  ).trim();
  const hash = createHash("sha256")
    .update(await readFile(bundle))
    .digest("hex")
    .slice(0, 12);
  return `clinic-edge: commit ${head}${changed ? " + uncommitted changes in functions/, db/ or wrangler.toml" : ""}, bundle sha256 ${hash}`;
}

/** A bench's own Worker (`entry`, TypeScript) bundled for workerd into `outdir`: the bundle's path. */
export async function bundleWorker(entry: string, outdir: string): Promise<string> {
  const outfile = join(outdir, basename(entry).replace(/\.ts$/, ".js"));
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    external: ["node:*", "cloudflare:*", "workerd:*"],
    logLevel: "warning",
  });
  return outfile;
}
