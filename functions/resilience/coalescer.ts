import { DurableObject } from "cloudflare:workers";
import { RequestDb } from "../../db/client.ts";
import { loadConfig } from "../config.ts";
import { Deadline, DeadlineExceededError } from "../deadline.ts";
import { keyOf, runLoad, type LoadRequest } from "./loaders.ts";

/** How a caller's answer was produced: from the cache, by joining a load in flight, or by loading. */
export type CoalescedOutcome = "hit" | "coalesced" | "load";

/**
 * One shape rather than a union: RPC stubs type a union return as a union of promises.
 * - value: `value` is the load's JSON (null: not found);
 * - error: the load failed; every waiter of that load gets this, nothing is cached;
 * - timeout: this caller's own wait ran out; the load goes on for the others.
 */
export interface CoalescedReply {
  kind: "value" | "error" | "timeout";
  value?: unknown;
  reason?: "deadline" | "failed";
  outcome?: CoalescedOutcome;
}

/** Past this many keys, expired ones are dropped before a new one is added. */
const MAX_ENTRIES = 256;

type Settled = { ok: true; value: unknown } | { ok: false; reason: "deadline" | "failed" };

interface Entry {
  /** Bumped by invalidate(): a load started before it may answer its waiters, but is not cached. */
  generation: number;
  cached?: { value: unknown; expiresAt: number };
  inflight?: Promise<Settled>;
}

/**
 * singleflight across isolates: one object per doctor (idFromName(`doctor:<id>`)) runs each load
 * once for every request waiting on it, wherever those requests run, and keeps the result for a
 * few seconds. Unlike Go's singleflight, the load runs under its own budget
 * (COALESCER_LOAD_TIMEOUT_MS), not the first caller's, and each caller stops waiting at its own
 * deadline without cancelling it for the others. State is memory only: a restarted object simply
 * starts cold.
 */
export class Coalescer extends DurableObject<Env> {
  readonly #entries = new Map<string, Entry>();

  async load(request: LoadRequest, waitMs: number): Promise<CoalescedReply> {
    const key = keyOf(request);
    const entry = this.#entry(key);
    const now = Date.now();
    if (entry.cached && entry.cached.expiresAt > now) {
      return { kind: "value", value: entry.cached.value, outcome: "hit" };
    }
    let outcome: CoalescedOutcome = "coalesced";
    if (!entry.inflight) {
      outcome = "load";
      entry.inflight = this.#startLoad(key, entry, request);
    }
    const settled = await this.#waitAtMost(entry.inflight, waitMs);
    if (!settled) return { kind: "timeout" };
    return settled.ok
      ? { kind: "value", value: settled.value, outcome }
      : { kind: "error", reason: settled.reason, outcome };
  }

  /** Drops cached values (all of this object's, or those whose keys are given) and detaches loads in flight. */
  invalidate(keys?: string[]): Promise<void> {
    const targets = keys ?? [...this.#entries.keys()];
    for (const key of targets) {
      const entry = this.#entries.get(key);
      if (!entry) continue;
      entry.generation++;
      entry.cached = undefined;
      entry.inflight = undefined;
    }
    return Promise.resolve();
  }

  #entry(key: string): Entry {
    let entry = this.#entries.get(key);
    if (!entry) {
      if (this.#entries.size >= MAX_ENTRIES) this.#prune();
      entry = { generation: 0 };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** Keys are (doctor, day) pairs: forget the ones with nothing cached and nothing in flight. */
  #prune(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) {
      if (!entry.inflight && (!entry.cached || entry.cached.expiresAt <= now)) this.#entries.delete(key);
    }
  }

  #startLoad(key: string, entry: Entry, request: LoadRequest): Promise<Settled> {
    const generation = entry.generation;
    const config = loadConfig(this.env);
    const settled = (async (): Promise<Settled> => {
      const deadline = Deadline.start(config.coalescer.loadTimeoutMs);
      const db = new RequestDb({ url: config.databaseUrl, ...config.db, applicationName: `clinic-edge:coalescer:${key}` });
      try {
        const value = await runLoad(request, db, deadline);
        if (entry.generation === generation) {
          const ttl = value === null ? config.coalescer.notFoundTtlMs : config.coalescer.ttlMs;
          entry.cached = { value, expiresAt: Date.now() + ttl };
        }
        return { ok: true, value };
      } catch (err) {
        console.error(
          JSON.stringify({ level: "warn", msg: "coalesced load failed", key, error: err instanceof Error ? err.name : "unknown" }),
        );
        return { ok: false, reason: err instanceof DeadlineExceededError ? "deadline" : "failed" };
      } finally {
        if (entry.generation === generation) entry.inflight = undefined;
        await db.end();
      }
    })();
    // The object stays alive for the load even when every caller has stopped waiting.
    this.ctx.waitUntil(settled);
    return settled;
  }

  async #waitAtMost(inflight: Promise<Settled>, waitMs: number): Promise<Settled | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, waitMs));
    });
    try {
      return await Promise.race([inflight, timeout]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}
