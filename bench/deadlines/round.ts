/**
 * One bench:deadlines round per Worker: requests queued on a locked doctor, each followed to its
 * response and its backend's end in pg_stat_activity (bench/deadlines.ts describes the figures).
 */
import { Agent } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import type pg from "pg";
import { send } from "../lib/closed-loop.ts";
import { type MachineWatch, watchMachine } from "../lib/machine.ts";
import {
  ActivityPoller,
  StatementStops,
  committedUpdates,
  holdRowLock,
  noteCommittedUpdates,
  waitFor,
} from "../lib/pg-activity.ts";
import type { LogTally } from "../lib/runtime-log.ts";
import { distribution } from "../lib/stack.ts";
import type { WorkerStack } from "../lib/worker.ts";
import type { Options } from "./options.ts";

/** What counts as a late response in RoundResult.late (ms over budget). */
export const LATE_MS = 15;

export const say = (line: string): void => console.error(`[bench:deadlines] ${line}`);

/** Two doctors of the bench's own, one to lock and one to warm up on; committed UPDATEs noted by request. */
export async function prepareDatabase(
  db: pg.Client,
): Promise<{ locked: string; warm: string; serverVersion: string; maxConnections: number }> {
  await noteCommittedUpdates(db, "doctors");
  const { rows } = await db.query<{ id: string }>(
    "INSERT INTO doctors (name, specialty) VALUES ('Bench Locked', 'cardiology'), ('Bench Warm', 'cardiology') RETURNING id",
  );
  const server = await db.query<{ version: string; max: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('max_connections') AS max",
  );
  return {
    locked: rows[0]!.id,
    warm: rows[1]!.id,
    serverVersion: server.rows[0]!.version,
    maxConnections: Number(server.rows[0]!.max),
  };
}

export interface Target {
  key: string;
  label: string;
  /** application_name = `${prefix}:${requestId}` */
  prefix: string;
  /** Headers that give a request its budget. */
  budgetHeaders: (budgetMs: number) => Record<string, string>;
  /** What the Worker logged during its round. */
  log: LogTally;
  /** Wire counters for one application_name, where the Worker's path has them. */
  wire: (applicationName: string) => Record<string, number> | undefined;
  /** Starts the Worker for its round; its origin. */
  start: () => Promise<string>;
}

interface RequestRecord {
  applicationName: string;
  sentAt: number;
  respondedAt: number;
  status: string;
}

/** What a run has before its stack starts. */
export interface Run {
  opts: Options;
  signal: AbortSignal;
  code: string;
  baselineBundle: string;
  stops: StatementStops | undefined;
}

export interface RoundContext extends Run {
  stack: WorkerStack;
  lockedId: string;
  warmId: string;
  runTag: string;
}

export type RoundResult = Awaited<ReturnType<typeof runRound>>;

/** A PATCH of one doctor: `If-Match: *` because the route requires a precondition and the bench does not track versions. */
function patchDoctor(agent: Agent, url: string, headers: Record<string, string>, specialty: string, timeoutMs: number) {
  const body = JSON.stringify({ specialty });
  return send(agent, url, {
    method: "PATCH",
    headers: { "content-type": "application/json", "if-match": "*", ...headers },
    body,
    timeoutMs,
  });
}

async function warmUp(target: Target, url: string, ctx: RoundContext, agent: Agent): Promise<void> {
  const statuses: string[] = [];
  let sample = "";
  for (let i = 0; i < ctx.opts.warmup && !ctx.signal.aborted; i++) {
    const headers = {
      ...ctx.stack.auth,
      "x-request-id": `${ctx.runTag}w-${target.key}-${i}`,
      ...target.budgetHeaders(5_000),
    };
    const reply = await patchDoctor(agent, `${url}/doctors/${ctx.warmId}`, headers, "cardiology", 30_000);
    statuses.push(reply.status);
    if (reply.status !== "200") sample ||= reply.body.slice(0, 400);
  }
  if (ctx.opts.warmup > 0 && !statuses.includes("200")) {
    throw new Error(`${target.label}: no warm-up request succeeded (${statuses.join(", ")}): ${sample}`);
  }
}

/**
 * One Worker's round: its warm-up, then the requests on the locked doctor, then the bound and the
 * lock's release; what became of each request (table() in ./report.ts names each figure).
 */
export async function runRound(target: Target, ctx: RoundContext) {
  const { opts, signal, stack } = ctx;
  const url = await target.start();
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const stopsBefore = ctx.stops?.snapshot();
  const tag = `${ctx.runTag}-${target.key}`;
  const poller = new ActivityPoller(stack.databaseUrl, `:${tag}-`, opts.pollMs);
  const records: RequestRecord[] = [];
  const sampleBodies: Record<string, string> = {};
  let watch: MachineWatch | undefined;
  let lock: { release(): Promise<void> } | undefined;
  try {
    await warmUp(target, url, ctx, agent);
    lock = await holdRowLock(stack.databaseUrl, "doctors", ctx.lockedId);
    await poller.start();
    watch = watchMachine();
    let next = 0;
    const sender = async (): Promise<void> => {
      while (next < opts.requests && !signal.aborted) {
        const requestId = `${tag}-${next++}`;
        const applicationName = `${target.prefix}:${requestId}`;
        poller.track(applicationName);
        const headers = { ...stack.auth, "x-request-id": requestId, ...target.budgetHeaders(opts.budgetMs) };
        const sentAt = performance.now();
        const reply = await patchDoctor(
          agent,
          `${url}/doctors/${ctx.lockedId}`,
          headers,
          "neurology",
          opts.budgetMs + 30_000,
        );
        records.push({ applicationName, sentAt, respondedAt: performance.now(), status: reply.status });
        sampleBodies[reply.status] ??= reply.body.slice(0, 300);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, sender));
    // Over the requests' part of the round: the bound and the drain are mostly idle waiting.
    watch.stop();

    // Every backend either gone, or given its full bound after its response.
    const settled = (r: RequestRecord): boolean =>
      poller.sighting(r.applicationName).goneAt !== undefined || performance.now() >= r.respondedAt + opts.boundMs;
    await waitFor(() => records.every(settled), opts.boundMs + 1_000, signal);
    const stillThere = poller.present().length;
    if (stillThere > 0)
      say(`${target.label}: ${stillThere} backend(s) still there after the bound; releasing the lock`);
    await lock.release();
    await waitFor(() => poller.present().length === 0, opts.drainMs, signal);
  } finally {
    watch?.stop();
    await lock?.release().catch(() => {});
    await poller.stop().catch(() => {});
    agent.destroy();
  }
  if (poller.error) throw new Error(`${target.label}: polling pg_stat_activity failed`, { cause: poller.error });
  // The server's log reaches us through a pipe: give its last lines a moment.
  if (ctx.stops) await delay(100);
  const serverStops = ctx.stops && stopsBefore ? StatementStops.since(stopsBefore, ctx.stops.snapshot()) : undefined;
  const writes = await committedUpdates(stack.monitor, `:${tag}-`);
  const fates = poller.afterResponse(records, opts.boundMs);
  const statuses: Record<string, number> = {};
  const wire: Record<string, number> = {};
  for (const r of records) {
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    for (const [k, v] of Object.entries(target.wire(r.applicationName) ?? {})) wire[k] = (wire[k] ?? 0) + v;
  }
  // Late responses, and those among them that overlapped a stall of this process between deadline and arrival.
  const lateOnes = records.filter((r) => r.respondedAt - r.sentAt - opts.budgetMs > LATE_MS);
  return {
    target: target.label,
    requests: records.length,
    budgetMs: opts.budgetMs,
    statuses,
    overBudget: distribution(records.map((r) => r.respondedAt - r.sentAt - opts.budgetMs)),
    goneAfterResponse: distribution(fates.gone),
    neverSeen: fates.neverSeen,
    stillAtBound: fates.stillAtBound,
    stayed: distribution(fates.stayed),
    leftAfterDrain: fates.leftAtEnd,
    writesAfterError: records.filter((r) => !r.status.startsWith("2") && writes.has(r.applicationName)).length,
    lastStates: fates.lastStates,
    wire,
    // Why Postgres stopped statements during the round (embedded server only: undefined).
    serverStops,
    poll: poller.timing(),
    // The machine while the requests were sent: a noisy neighbour shows here.
    machine: watch.stop(),
    late: {
      count: lateOnes.length,
      duringStall: lateOnes.filter((r) => watch.stalledWithin(r.sentAt + opts.budgetMs, r.respondedAt) > 0).length,
    },
    workerLog: { byLevel: { ...target.log.byLevel }, errors: { ...target.log.errors } },
    sampleBodies,
  };
}
