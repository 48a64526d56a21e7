/**
 * What Postgres itself says about a bench's backends: whether each one is still there
 * (pg_stat_activity, polled by application_name: the Workers name their connections after the
 * request), how many backends a database started, and why the server stopped statements (its log,
 * for the embedded server). A Worker's own account is what is being tested, so none relies on it.
 */
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { percentile, round1 } from "./stack.ts";

/** What pg_stat_activity said about one backend. */
export interface Sighting {
  firstSeenAt?: number;
  lastSeenAt?: number;
  /** The first poll after the last sighting that no longer showed it (the poll's answer time). */
  goneAt?: number;
  /** state / wait_event_type at the last sighting: "active/Lock", "aborted-tx/Client"… */
  lastState?: string;
}

/** ActivityPoller.afterResponse(): times in ms after the response. */
export interface BackendFates {
  gone: number[];
  stillAtBound: number;
  stayed: number[];
  neverSeen: number;
  leftAtEnd: number;
  lastStates: Record<string, number>;
}

/** "active/Lock", "aborted-tx/Client" (idle in transaction (aborted), waiting to read from the client)… */
function stateLabel(state: string | null, wait: string | null): string {
  const short =
    state === "idle in transaction (aborted)"
      ? "aborted-tx"
      : state === "idle in transaction"
        ? "idle-in-tx"
        : (state ?? "?");
  return wait ? `${short}/${wait}` : short;
}

/**
 * Polls pg_stat_activity on a connection of its own every `periodMs` for the backends whose
 * application_name contains `marker`. Times are performance.now() when the poll's answer arrived:
 * "gone" is therefore late by at most one period plus one poll round trip.
 */
export class ActivityPoller {
  readonly #client: pg.Client;
  readonly #marker: string;
  readonly #periodMs: number;
  readonly #sightings = new Map<string, Sighting>();
  readonly #periods: number[] = [];
  readonly #roundTrips: number[] = [];
  #running: Promise<void> | undefined;
  #stopped = false;
  /** Why polling stopped early, if it did: the bench should not report what it did not see. */
  error: unknown;

  constructor(url: string, marker: string, periodMs: number) {
    this.#client = new pg.Client({ connectionString: url, application_name: "clinic-edge-bench-poller" });
    this.#marker = marker;
    this.#periodMs = periodMs;
  }

  async start(): Promise<void> {
    await this.#client.connect();
    await this.#client.query("SET statement_timeout = 2000");
    this.#running = this.#loop().catch((err: unknown) => {
      this.error = err;
    });
  }

  /** Watch for this backend (before its request is sent, so that a quick one is not missed). */
  track(applicationName: string): void {
    if (!this.#sightings.has(applicationName)) this.#sightings.set(applicationName, {});
  }

  sighting(applicationName: string): Sighting {
    return this.#sightings.get(applicationName) ?? {};
  }

  /** Names of tracked backends that are there right now (at the last poll). */
  present(): string[] {
    return [...this.#sightings].filter(([, s]) => s.lastSeenAt !== undefined && s.goneAt === undefined).map(([n]) => n);
  }

  /**
   * What became of each request's backend after its response (`respondedAt`, performance.now()):
   * how long after it the backend went; those still there `boundMs` after it, and when they went;
   * those never seen (ended between two polls, or never reached Postgres), those still there at
   * the last poll, and the states they were last seen in.
   */
  afterResponse(
    responses: ReadonlyArray<{ applicationName: string; respondedAt: number }>,
    boundMs: number,
  ): BackendFates {
    const fates: BackendFates = { gone: [], stayed: [], stillAtBound: 0, neverSeen: 0, leftAtEnd: 0, lastStates: {} };
    for (const r of responses) {
      const s = this.sighting(r.applicationName);
      if (s.lastSeenAt === undefined) {
        fates.neverSeen++;
        continue;
      }
      fates.lastStates[s.lastState ?? "?"] = (fates.lastStates[s.lastState ?? "?"] ?? 0) + 1;
      if (s.goneAt === undefined) fates.leftAtEnd++;
      else fates.gone.push(s.goneAt - r.respondedAt);
      if (s.goneAt === undefined || s.goneAt - r.respondedAt > boundMs) {
        fates.stillAtBound++;
        if (s.goneAt !== undefined) fates.stayed.push(s.goneAt - r.respondedAt);
      }
    }
    return fates;
  }

  /** How well the poller kept its period, ms: what a "gone" time may be late by. */
  timing(): { periodP50: number; periodP99: number; roundTripP50: number } {
    const periods = [...this.#periods].sort((a, b) => a - b);
    const roundTrips = [...this.#roundTrips].sort((a, b) => a - b);
    return {
      periodP50: round1(percentile(periods, 50)),
      periodP99: round1(percentile(periods, 99)),
      roundTripP50: round1(percentile(roundTrips, 50)),
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
    await this.#client.end();
  }

  async #loop(): Promise<void> {
    let previous: number | undefined;
    while (!this.#stopped) {
      const sent = performance.now();
      const { rows } = await this.#client.query<{
        application_name: string;
        state: string | null;
        wait: string | null;
      }>(
        "SELECT application_name, state, wait_event_type AS wait FROM pg_stat_activity WHERE position($1 in application_name) > 0",
        [this.#marker],
      );
      const at = performance.now();
      this.#roundTrips.push(at - sent);
      if (previous !== undefined) this.#periods.push(at - previous);
      previous = at;
      const seen = new Map(rows.map((r) => [r.application_name, stateLabel(r.state, r.wait)]));
      for (const [name, s] of this.#sightings) {
        const state = seen.get(name);
        if (state !== undefined) {
          s.firstSeenAt ??= at;
          s.lastSeenAt = at;
          s.lastState = state;
          s.goneAt = undefined;
        } else if (s.lastSeenAt !== undefined && s.goneAt === undefined) {
          s.goneAt = at;
        }
      }
      const wait = sent + this.#periodMs - performance.now();
      if (wait > 0) await delay(wait);
    }
  }
}

/** Postgres backends started so far in the monitor's database (PostgreSQL 14+). */
export async function sessionsStarted(monitor: pg.Client): Promise<number> {
  // Backends report their counters when they exit or go idle, at most once a second.
  await delay(1_500);
  await monitor.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await monitor.query<{ n: string }>(
    "SELECT sessions::text AS n FROM pg_stat_database WHERE datname = current_database()",
  );
  return Number(rows[0]!.n);
}

/** Polls `done` every 5 ms until it holds, `timeoutMs` passes or `signal` aborts; whether it held. */
export async function waitFor(done: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!done()) {
    if (signal.aborted || performance.now() >= end) return done();
    await delay(5);
  }
  return true;
}

/**
 * Why Postgres stopped statements, counted from the server's own log (fed to `add` as it comes:
 * ScratchDatabaseOptions.log).
 */
export class StatementStops {
  static readonly REASONS: Array<[string, RegExp]> = [
    ["statement timeout", /canceling statement due to statement timeout/],
    ["cancel request", /canceling statement due to user request/],
    ["client gone (check interval)", /connection to client lost/],
    ["EOF from client", /unexpected EOF on client connection|could not receive data from client/],
  ];

  readonly #counts: Record<string, number> = {};

  /** An arrow, so that it can be handed over as the log callback as it is. */
  readonly add = (text: string): void => {
    for (const line of text.split("\n")) {
      for (const [name, pattern] of StatementStops.REASONS)
        if (pattern.test(line)) this.#counts[name] = (this.#counts[name] ?? 0) + 1;
    }
  };

  snapshot(): Record<string, number> {
    return { ...this.#counts };
  }

  /** The counts added between two snapshots. */
  static since(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
    const diff: Record<string, number> = {};
    for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) diff[k] = v - (before[k] ?? 0);
    return diff;
  }
}

/**
 * A row lock held by a connection of the bench's own (SELECT … FOR UPDATE in an open transaction):
 * whatever touches that row waits until release(), which rolls back and closes (again: no-op).
 */
export async function holdRowLock(url: string, table: string, id: string): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: url, application_name: "clinic-edge-bench-lock" });
  await holder.connect();
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await holder.query("ROLLBACK").catch(() => {});
    await holder.end();
  };
  try {
    await holder.query("BEGIN");
    await holder.query(`SELECT 1 FROM ${holder.escapeIdentifier(table)} WHERE id = $1 FOR UPDATE`, [id]);
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
  return { release };
}

/**
 * Which requests' writes to a table really committed, whatever their answer said: a trigger
 * (installed in the bench's own database only) notes the application_name of the connection of
 * every row update that commits.
 */
export async function noteCommittedUpdates(db: pg.Client, table: string): Promise<void> {
  const t = db.escapeIdentifier(table);
  await db.query(`
    SET client_min_messages = warning;
    CREATE TABLE IF NOT EXISTS bench_committed_updates (application_name text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE OR REPLACE FUNCTION bench_note_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO bench_committed_updates (application_name) VALUES (current_setting('application_name'));
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS bench_note_update ON ${t};
    CREATE TRIGGER bench_note_update AFTER UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION bench_note_update();
  `);
}

/** The application_names containing `marker` whose updates committed (noteCommittedUpdates()). */
export async function committedUpdates(db: pg.Client, marker: string): Promise<Set<string>> {
  const { rows } = await db.query<{ application_name: string }>(
    "SELECT application_name FROM bench_committed_updates WHERE position($1 in application_name) > 0",
    [marker],
  );
  return new Set(rows.map((r) => r.application_name));
}
