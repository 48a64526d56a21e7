import { DurableObject } from "cloudflare:workers";
import { RequestDb } from "../../../db/client.ts";
import { loadConfig } from "../../config/index.ts";
import { Deadline, DeadlineExceededError } from "../../../core/deadline.ts";
import { NOOP_SPAN, SpanKind, Trace, type Span } from "../../../core/telemetry/tracing.ts";
import { keyOf, runLoad, type LoadRequest } from "./loaders.ts";
import { errorText, log } from "../../../core/log.ts";

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

  /**
   * `traceparent`: the caller's hop span, when the request is traced. The object records its own
   * part of the trace (this call, and the load with its SQL when this call started it) and exports
   * it itself, like the Worker does.
   */
  async load(request: LoadRequest, waitMs: number, traceparent?: string): Promise<CoalescedReply> {
    const key = keyOf(request);
    // Only a traced caller's call is recorded: the object never starts traces of its own.
    const { trace, span } = traceparent
      ? Trace.begin(loadConfig(this.env).tracing, traceparent, "Coalescer.load", SpanKind.server, {
          // The loader's name only: the key holds the requested date.
          "coalescer.loader": request.loader,
        })
      : { trace: undefined, span: NOOP_SPAN };
    try {
      const reply = await this.#load(key, request, waitMs, span);
      span.setAttribute("coalescer.outcome", reply.kind === "timeout" ? "timeout" : (reply.outcome ?? "load"));
      if (reply.kind === "error") span.fail(`load ${reply.reason ?? "failed"}`);
      return reply;
    } finally {
      span.end();
      if (trace) {
        this.#export(trace);
        // A load this caller started but stopped waiting for ends later: its spans go out then.
        const inflight = this.#entries.get(key)?.inflight;
        if (inflight) this.ctx.waitUntil(inflight.then(() => this.#export(trace)));
      }
    }
  }

  async #load(key: string, request: LoadRequest, waitMs: number, span: Span): Promise<CoalescedReply> {
    const entry = this.#entry(key);
    const now = Date.now();
    if (entry.cached && entry.cached.expiresAt > now) {
      return { kind: "value", value: entry.cached.value, outcome: "hit" };
    }
    let outcome: CoalescedOutcome = "coalesced";
    if (!entry.inflight) {
      outcome = "load";
      entry.inflight = this.#startLoad(key, entry, request, span);
    }
    const settled = await this.#waitAtMost(entry.inflight, waitMs);
    if (!settled) return { kind: "timeout" };
    return settled.ok
      ? { kind: "value", value: settled.value, outcome }
      : { kind: "error", reason: settled.reason, outcome };
  }

  /** Sends what the trace holds in waitUntil, bounded by the background budget; failures are logged only. */
  #export(trace: Trace): void {
    const send = trace.flush();
    if (!send) return;
    this.ctx.waitUntil(
      send(AbortSignal.timeout(loadConfig(this.env).budget.backgroundMs)).catch((err: unknown) => {
        log.warn("span export failed", { error: errorText(err) });
      }),
    );
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

  /** `parent`: the span of the call that starts the load; the load's span and SQL spans go under it. */
  #startLoad(key: string, entry: Entry, request: LoadRequest, parent: Span): Promise<Settled> {
    const generation = entry.generation;
    const config = loadConfig(this.env);
    const span = parent.child("coalescer.run-load", SpanKind.internal, { "coalescer.loader": request.loader });
    const settled = (async (): Promise<Settled> => {
      const deadline = Deadline.start(config.coalescer.loadTimeoutMs);
      const db = new RequestDb({
        url: config.databaseUrl,
        ...config.db,
        applicationName: `clinic-edge:coalescer:${key}`,
        span,
      });
      try {
        const value = await runLoad(request, db, deadline);
        if (entry.generation === generation) {
          const ttl = value === null ? config.coalescer.notFoundTtlMs : config.coalescer.ttlMs;
          entry.cached = { value, expiresAt: Date.now() + ttl };
        }
        return { ok: true, value };
      } catch (err) {
        log.warn("coalesced load failed", { key, error: err instanceof Error ? err.name : "unknown" });
        span.fail(err instanceof Error ? err.name : "error");
        return { ok: false, reason: err instanceof DeadlineExceededError ? "deadline" : "failed" };
      } finally {
        if (entry.generation === generation) entry.inflight = undefined;
        span.end();
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
