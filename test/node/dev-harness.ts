/**
 * Runs `npm run dev` (dev/dev.ts) for the tests of its quick-start promise (dev.test.ts, dev-lock.test.ts).
 *
 * Each stack lives in a temp DEV_DATA_DIR on free ports, so these tests never meet a developer's own
 * `npm run dev` (.data/, 8787, 54329, 54330, 54331, 54332). DATABASE_URL is removed from the child's environment:
 * the promise is about the embedded default, whatever database the rest of the suite runs against.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../dev/ports.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DEV = join(ROOT, "dev", "dev.ts");

/** `count` different ports nobody listens on right now. */
export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

const temps: string[] = [];

/**
 * A DEV_DATA_DIR of its own, until removeTempDataDirs(). World-traversable: as root, the embedded
 * cluster runs as `postgres`.
 */
export async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "clinic-edge-dev-"));
  temps.push(dir);
  await chmod(dir, 0o755);
  return dir;
}

/** Removes every directory tempDataDir() made (in this test file). */
export async function removeTempDataDirs(): Promise<void> {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
}

/**
 * The environment `npm run dev` would get: the project's binaries (wrangler, Node 24) first on PATH,
 * no DATABASE_URL, no vitest markers.
 */
export function devEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === "DATABASE_URL" || name.startsWith("VITEST") || name === "NODE_ENV") continue;
    env[name] = value;
  }
  env.PATH = [join(ROOT, "node_modules", ".bin"), dirname(process.execPath), process.env.PATH].join(delimiter);
  env.WRANGLER_SEND_METRICS = "false";
  return { ...env, ...overrides };
}

export interface Dev {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts dev/dev.ts as its own process group (so the whole stack can be signalled at once), from
 * this checkout or the one at `root`.
 */
export function startDev(env: NodeJS.ProcessEnv, args: string[] = [], root = ROOT): Dev {
  const child = spawn(process.execPath, [root === ROOT ? DEV : join(root, "dev", "dev.ts"), ...args], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => output, exited };
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every process still in the group `pgid` (the dev process and whatever it spawned). */
export function killGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
}
