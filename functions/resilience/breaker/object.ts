import { DurableObject } from "cloudflare:workers";
import { CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from "cockatiel";
import { z } from "zod";
import type { BreakerSettings } from "../../config/index.ts";
import { loadConfig } from "../../config/index.ts";
import { SpanKind, Trace } from "../../../core/telemetry/tracing.ts";
import { logTransition, type CircuitStateName } from "./circuit.ts";
import { errorText, log } from "../../../core/log.ts";

/** The object's answer to every call: the shared state, in the caller's terms. */
export interface BreakerSnapshot {
  state: CircuitStateName;
  /**
   * open: until probes are let through; half-open with every permit out: until the earliest
   * outstanding probe's lease ends; otherwise 0. Relative, so clocks need not agree.
   */
  retryAfterMs: number;
  /** Failures in a row, as reported by every isolate. */
  consecutiveFailures: number;
}

/** One shape rather than a union: RPC stubs type a union return as a union of promises. */
export interface ProbeGrant {
  granted: boolean;
  /** Report the probe's outcome with this id; set when granted. */
  probeId?: string;
  snapshot: BreakerSnapshot;
}

export interface ReportedOutcome {
  ok: boolean;
  /** The permit the call ran under, when it was a half-open probe. */
  probeId?: string;
}

/** Sent with every call: the Worker's configuration is the one truth (and tests override it per request). */
export interface BreakerArgs {
  name: string;
  settings: BreakerSettings;
  /** The caller's hop span when its request is traced: the object records its part under it. */
  traceparent?: string | undefined;
}

/** Authoritative transitions, counted here; in memory, so a restart starts them at zero. */
export interface BreakerObjectStats {
  snapshot: BreakerSnapshot;
  transitions: Record<CircuitStateName, number>;
  probesGranted: number;
  probesRefused: number;
  /** Probes whose lease ran out before their outcome was reported: counted as failures. */
  probesExpired: number;
  failuresReported: number;
  successesReported: number;
  /** Reports of calls that were already under way when the circuit opened: ignored. */
  reportsIgnored: number;
}

const STATE_KEY = "policy";

/** What cockatiel's toJSON() holds, as far as the snapshot needs it. */
const PersistedPolicy = z.object({
  ownState: z.object({ value: z.number(), openedAt: z.number().optional() }),
  breakerState: z.number(),
});

const NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  // Never entered: nothing here calls isolate().
  [CircuitState.Isolated]: "open",
};

class ReportedFailure extends Error {
  override name = "ReportedFailure";
}

interface Probe {
  leaseEndsAt: number;
  settle: (ok: boolean) => void;
  /** Settles once cockatiel has recorded the probe's outcome. */
  recorded: Promise<void>;
}

/**
 * One circuit breaker shared by every isolate: one object per external dependency
 * (idFromName("insurance")). The state machine is cockatiel's CircuitBreakerPolicy
 * (ConsecutiveBreaker, halfOpenAfter, half-open sampling of N probes); the calls themselves run in
 * the isolates, which report their outcomes here. Half-open probes are permits with a lease: the
 * isolate that holds one makes the call, and a permit never reported back counts as a failure when
 * its lease ends. The policy's state is saved after every change, so a restarted object resumes
 * open (or counting) rather than closed.
 */
export class Breaker extends DurableObject<Env> {
  #policy: CircuitBreakerPolicy | undefined;
  #settingsKey = "";
  #settings: BreakerSettings | undefined;
  #name = "";
  readonly #probes = new Map<string, Probe>();
  /** Permits granted since the circuit last went half-open. */
  #granted = 0;
  readonly #stats: Omit<BreakerObjectStats, "snapshot"> = {
    transitions: { closed: 0, open: 0, "half-open": 0 },
    probesGranted: 0,
    probesRefused: 0,
    probesExpired: 0,
    failuresReported: 0,
    successesReported: 0,
    reportsIgnored: 0,
  };

  /** The state as it is now (a fresh isolate's first call, and background refreshes). */
  sync(args: BreakerArgs): Promise<BreakerSnapshot> {
    return this.#traced(args, "sync", () => {
      this.#use(args);
      return Promise.resolve(this.#snapshot());
    });
  }

  /**
   * Asks to make a half-open probe. Granted when the open time is over and a permit is free; the
   * permit's lease (`leaseMs`: the caller's longest attempt plus the report's trip) bounds how long
   * it can hold the circuit undecided. A closed circuit grants nothing: the snapshot says go ahead.
   */
  acquireProbe(args: BreakerArgs, leaseMs: number): Promise<ProbeGrant> {
    return this.#traced(args, "acquireProbe", () => this.#acquireProbe(args, leaseMs));
  }

  #acquireProbe(args: BreakerArgs, leaseMs: number): Promise<ProbeGrant> {
    const policy = this.#use(args);
    const snapshot = this.#snapshot();
    const refused = (): Promise<ProbeGrant> => {
      this.#stats.probesRefused++;
      return Promise.resolve({ granted: false, snapshot });
    };
    if (snapshot.state === "closed") return Promise.resolve({ granted: false, snapshot });
    if (snapshot.retryAfterMs > 0) return refused();
    if (policy.state === CircuitState.HalfOpen && this.#granted >= this.#settings!.halfOpenProbes) return refused();

    const probeId = crypto.randomUUID();
    const { promise: outcome, resolve } = Promise.withResolvers<boolean>();
    const timer = setTimeout(() => {
      if (this.#probes.has(probeId)) this.#stats.probesExpired++;
      this.#settle(probeId, false);
    }, leaseMs);
    // execute() moves Open -> HalfOpen synchronously and keeps the sampled call pending until the
    // isolate reports; its result is the probe's outcome.
    const recorded = policy
      .execute(async () => {
        if (!(await outcome)) throw new ReportedFailure();
      })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        clearTimeout(timer);
        this.#save();
      });
    // Counted after execute(): entering half-open just reset it for the new round.
    this.#granted++;
    this.#probes.set(probeId, { leaseEndsAt: Date.now() + leaseMs, settle: resolve, recorded });
    this.#stats.probesGranted++;
    this.ctx.waitUntil(recorded);
    return Promise.resolve({ granted: true, probeId, snapshot: this.#snapshot() });
  }

  /**
   * An isolate's outcome: every failure, and the first success after its own failure (healthy calls
   * report nothing). A probe's outcome decides the half-open round; a plain report counts only
   * while closed, since calls under way when the circuit opened say nothing new.
   */
  report(args: BreakerArgs, outcome: ReportedOutcome): Promise<BreakerSnapshot> {
    return this.#traced(args, "report", () => this.#report(args, outcome));
  }

  async #report(args: BreakerArgs, outcome: ReportedOutcome): Promise<BreakerSnapshot> {
    const policy = this.#use(args);
    if (outcome.ok) this.#stats.successesReported++;
    else this.#stats.failuresReported++;
    const probe = outcome.probeId ? this.#probes.get(outcome.probeId) : undefined;
    if (probe) {
      this.#settle(outcome.probeId!, outcome.ok);
      await probe.recorded;
    } else if (policy.state === CircuitState.Closed) {
      await policy
        .execute(() => {
          if (!outcome.ok) throw new ReportedFailure();
        })
        .catch(() => undefined);
      this.#save();
    } else {
      this.#stats.reportsIgnored++;
    }
    return this.#snapshot();
  }

  /** State and counters, for /metrics and tests. */
  stats(args: BreakerArgs): Promise<BreakerObjectStats> {
    this.#use(args);
    return Promise.resolve({ snapshot: this.#snapshot(), ...structuredClone(this.#stats) });
  }

  /**
   * Runs one call inside a span continuing the caller's traceparent (none: nothing recorded), with
   * the state it leaves the circuit in, and exports it in waitUntil, bounded by the background budget.
   */
  async #traced<T>(args: BreakerArgs, method: string, work: () => Promise<T>): Promise<T> {
    if (!args.traceparent) return work();
    const config = loadConfig(this.env);
    const { trace, span } = Trace.begin(config.tracing, args.traceparent, `Breaker.${method}`, SpanKind.server, {
      "breaker.name": args.name,
    });
    try {
      return await work();
    } finally {
      if (this.#policy) span.setAttribute("breaker.state", this.#snapshot().state);
      span.end();
      const send = trace?.flush();
      if (send) {
        this.ctx.waitUntil(
          send(AbortSignal.timeout(config.budget.backgroundMs)).catch((err: unknown) => {
            log.warn("span export failed", { error: errorText(err) });
          }),
        );
      }
    }
  }

  #settle(probeId: string, ok: boolean): void {
    const probe = this.#probes.get(probeId);
    if (!probe) return;
    this.#probes.delete(probeId);
    probe.settle(ok);
  }

  /** The policy for these settings: built on first use (from the saved state) or when they change. */
  #use({ name, settings }: BreakerArgs): CircuitBreakerPolicy {
    this.#name = name;
    const key = JSON.stringify(settings);
    if (this.#policy && key === this.#settingsKey) return this.#policy;
    const initialState: unknown = this.#policy?.toJSON() ?? this.ctx.storage.kv.get(STATE_KEY);
    const policy = circuitBreaker(
      handleWhen((err) => err instanceof ReportedFailure),
      {
        breaker: new ConsecutiveBreaker(settings.failureThreshold),
        halfOpenAfter: settings.openMs,
        // All N probes must succeed to close; any failure reopens.
        halfOpenSampling: { calls: settings.halfOpenProbes, threshold: 0 },
        ...(initialState === undefined ? {} : { initialState }),
      },
    );
    let from = NAMES[policy.state];
    policy.onStateChange((state) => {
      const to = NAMES[state];
      if (state === CircuitState.HalfOpen) this.#granted = 0;
      this.#stats.transitions[to]++;
      logTransition({
        breaker: this.#name,
        scope: "shared",
        from,
        to,
        consecutiveFailures: this.#consecutiveFailures(),
      });
      from = to;
    });
    this.#policy = policy;
    this.#settings = settings;
    this.#settingsKey = key;
    return policy;
  }

  #consecutiveFailures(): number {
    return this.#policy ? PersistedPolicy.parse(this.#policy.toJSON()).breakerState : 0;
  }

  #save(): void {
    if (this.#policy) this.ctx.storage.kv.put(STATE_KEY, this.#policy.toJSON());
  }

  #snapshot(): BreakerSnapshot {
    const policy = this.#policy!;
    const saved = PersistedPolicy.parse(policy.toJSON());
    const now = Date.now();
    const state = NAMES[policy.state];
    let retryAfterMs = 0;
    if (policy.state === CircuitState.Open) {
      retryAfterMs = Math.max(0, (saved.ownState.openedAt ?? 0) + this.#settings!.openMs - now);
    } else if (policy.state === CircuitState.HalfOpen && this.#granted >= this.#settings!.halfOpenProbes) {
      const leases = [...this.#probes.values()].map((p) => p.leaseEndsAt - now);
      retryAfterMs = leases.length ? Math.max(0, Math.min(...leases)) : 0;
    }
    return { state, retryAfterMs, consecutiveFailures: saved.breakerState };
  }
}
