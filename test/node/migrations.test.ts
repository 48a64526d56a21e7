/**
 * Schema and migrations never drift: whatever db/schema says is exactly what drizzle/ builds.
 *
 * drizzle-kit exits 0 even when it fails (a bad `out` path, a column rename that needs an interactive
 * answer), so these tests judge it by what it prints and what it writes, not by its exit code alone.
 */
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MIGRATIONS = join(ROOT, "drizzle");
const DRIZZLE_KIT = join(ROOT, "node_modules", "drizzle-kit", "bin.cjs");

interface Run {
  status: number | null;
  output: string;
}

/** Runs the project's drizzle-kit with the Node running the tests, from the repository root. */
function drizzleKit(args: string[]): Run {
  const { status, stdout, stderr, error } = spawnSync(process.execPath, [DRIZZLE_KIT, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
    env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
  });
  if (error) throw error;
  return { status, output: `${stdout}${stderr}` };
}

/** Every file under dir, as relative path -> contents. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path), await readFile(path, "utf8"));
  }
  return files;
}

describe("schema and migrations never drift", () => {
  const temps: string[] = [];
  afterEach(async () => {
    for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  test("drizzle-kit generate against a copy of drizzle/ finds no schema changes and writes nothing", async () => {
    const temp = await mkdtemp(join(tmpdir(), "clinic-edge-drift-"));
    temps.push(temp);
    const out = join(temp, "drizzle");
    await cp(MIGRATIONS, out, { recursive: true });
    // drizzle-kit mangles an absolute `out` ("./" + path) and then fails with exit 0: give it a
    // path relative to the repository root, where it runs. A config without imports, so it loads
    // from outside the repository's node_modules.
    const config = join(temp, "drizzle.config.ts");
    await writeFile(
      config,
      `export default ${JSON.stringify({
        dialect: "postgresql",
        schema: "./db/schema/index.ts",
        out: relative(ROOT, out),
        strict: true,
      })};\n`,
    );
    const before = await snapshot(out);

    const run = drizzleKit(["generate", "--config", config]);

    expect(run.output, run.output).toContain("No schema changes, nothing to migrate");
    expect(run.output).not.toMatch(/\bError:/);
    expect(run.status, run.output).toBe(0);
    const after = await snapshot(out);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    expect(after).toEqual(before);
  });

  test("drizzle-kit check finds drizzle/ consistent", () => {
    const run = drizzleKit(["check"]);

    expect(run.status, run.output).toBe(0);
    expect(run.output).toContain("Everything's fine");
  });
});
