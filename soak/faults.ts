/**
 * Each fault kind, applied for its window and healed at its end, against the soak's stack:
 *
 *   pg-terminate        pg_terminate_backend() of every backend of the Worker's (not the soak's own)
 *   db-outage           the outage switch down: connections cut, new ones refused
 *   lock-contention     a session holding FOR UPDATE locks on the hot doctors' rows and their appointments
 *   insurer-down/slow/flaky   the insurer's stand-in switched (its /__control settings)
 *   client-disconnects  half the clients hang up 1–20 ms into their requests
 *   worker-restart      the Worker's runtime restarted (Miniflare setOptions, same options, same DO storage)
 */
import type pg from "pg";
import type { FaultKind, FaultWindow } from "./schedule.ts";
import { SOAK_APP, type SoakStack, soakConnection } from "./stack.ts";

export interface FaultTargets {
  stack: SoakStack;
  monitor: pg.Client;
  hotDoctorIds: string[];
  /** Set while client-disconnects runs; the clients read it per attempt. */
  setDisconnectShare(share: number): void;
  /** After a restart: the new isolate's heap baseline is taken again (see soak.ts). */
  onRestart(): Promise<void>;
}

export interface AppliedFault extends FaultWindow {
  /** What happened, for the summary (e.g. "terminated 7 backends"). */
  note: string;
  error?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `w` to its end (healed) and says what it did; the window returned is the one it really
 * took (`now`: ms since the load started), which the checker uses, not the one planned.
 */
export async function applyFault(t: FaultTargets, w: FaultWindow, now: () => number): Promise<AppliedFault> {
  const startMs = now();
  const done = (note: string, error?: string): AppliedFault => ({
    kind: w.kind,
    startMs,
    durationMs: Math.max(w.durationMs, now() - startMs),
    note,
    ...(error ? { error } : {}),
  });
  try {
    return done(await RUN[w.kind](t, w.durationMs));
  } catch (err) {
    return done("failed to inject", err instanceof Error ? err.message : String(err));
  }
}

const RUN: Record<FaultKind, (t: FaultTargets, ms: number) => Promise<string>> = {
  "pg-terminate": async (t) => {
    const { rows } = await t.monitor.query<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> $1
         AND backend_type = 'client backend'`,
      [SOAK_APP],
    );
    return `terminated ${rows[0]?.n ?? 0} backends`;
  },
  "db-outage": async (t, ms) => {
    await t.stack.outage(true);
    try {
      await sleep(ms);
    } finally {
      await t.stack.outage(false);
    }
    return "database unreachable";
  },
  "lock-contention": async (t, ms) => {
    const holder = await soakConnection(t.stack.databaseUrl);
    try {
      await holder.query("BEGIN");
      const doctors = await holder.query("SELECT id FROM doctors WHERE id = ANY($1::uuid[]) FOR UPDATE", [
        t.hotDoctorIds,
      ]);
      const appointments = await holder.query(
        "SELECT id FROM appointments WHERE doctor_id = ANY($1::uuid[]) AND status = 'scheduled' FOR UPDATE",
        [t.hotDoctorIds],
      );
      await sleep(ms);
      await holder.query("ROLLBACK");
      return `held ${doctors.rowCount} doctor and ${appointments.rowCount} appointment rows`;
    } finally {
      await holder.end();
    }
  },
  "insurer-down": (t, ms) => insurer(t, { down: true }, ms),
  "insurer-slow": (t, ms) => insurer(t, { latencyMs: 3_000 }, ms),
  "insurer-flaky": (t, ms) => insurer(t, { errorRate: 0.5 }, ms),
  "client-disconnects": async (t, ms) => {
    t.setDisconnectShare(0.5);
    await sleep(ms);
    t.setDisconnectShare(0);
    return "half the clients hang up mid-request";
  },
  "worker-restart": async (t) => {
    await t.stack.restart();
    await t.onRestart();
    return "runtime restarted";
  },
};

async function insurer(
  t: FaultTargets,
  change: { down?: boolean; latencyMs?: number; errorRate?: number },
  ms: number,
): Promise<string> {
  const url = `${t.stack.insurance.url}/__control`;
  const post = async (body: object): Promise<void> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`insurer /__control answered ${res.status}`);
  };
  await post(change);
  try {
    await sleep(ms);
  } finally {
    await post({ down: false, latencyMs: 0, errorRate: 0 });
  }
  return `insurer ${JSON.stringify(change)}`;
}
