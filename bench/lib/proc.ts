/**
 * Processes as Linux's /proc shows them, for a bench that counts the CPU each side of a request
 * costs (workerd, Postgres, the bench itself) or pins them to cores of their own.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import pg from "pg";

const TICK_MS = 10;

/** `/proc/<pid>/stat`: the command name and the fields after it (fields[1] is the parent's pid). */
function stat(pid: number | string): { comm: string; fields: string[] } {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return {
    comm: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")),
    fields: text.slice(text.lastIndexOf(")") + 2).split(" "),
  };
}

/** CPU time of a process and of its children already reaped (Postgres backends that exited); 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const { fields } = stat(pid);
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * TICK_MS;
  } catch {
    return 0;
  }
}

/** The running children of `parent`, only those whose command is `name` if given. */
export function childrenOf(parent: number, name?: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { comm, fields } = stat(entry);
      if (Number(fields[1]) === parent && (name === undefined || comm === name)) pids.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

/** The postmaster of a Postgres on this machine: a backend's parent (needs no privilege, unlike data_directory). */
export async function postmasterOf(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    return Number(stat(rows[0]!.pid).fields[1]);
  } finally {
    await client.end();
  }
}

/** Processes whose CPU time is counted. */
export interface Counted {
  /** Looked up on each snapshot: Miniflare restarts workerd on setOptions. */
  workerd: () => number[];
  /** The embedded server's postmaster, its backends included; undefined: Postgres is not counted. */
  postmaster: number | undefined;
}

/** CPU ms so far: workerd; Postgres (undefined when not counted); this process. */
export function cpuSnapshot(counted: Counted): { worker: number; postgres: number | undefined; bench: number } {
  const pm = counted.postmaster;
  const usage = process.cpuUsage();
  return {
    worker: counted.workerd().reduce((sum, pid) => sum + cpuMs(pid), 0),
    postgres: pm === undefined ? undefined : cpuMs(pm) + childrenOf(pm).reduce((sum, pid) => sum + cpuMs(pid), 0),
    bench: (usage.user + usage.system) / 1_000,
  };
}

/** Moves every thread of each process (`taskset -a`) to CPU `cpu`. */
export function pin(pids: Iterable<number>, cpu: number): void {
  for (const pid of pids) execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
}
