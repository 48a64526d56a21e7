import type { BreakerSettings } from "../../config/index.ts";
import { ClientClosedError, DeadlineExceededError } from "../../../core/deadline.ts";
import type { Breaker, BreakerArgs, BreakerSnapshot } from "./object.ts";
import {
  CircuitOpenError,
  breakerCounters,
  countsAsFailure,
  type BreakerCall,
  type BreakerCounters,
  type BreakerView,
  type CircuitBreaker,
  type CircuitStateName,
} from "./circuit.ts";
import { LocalBreaker } from "./local.ts";
import { track } from "../../../core/inflight.ts";
import { SpanKind, type Attributes } from "../../../core/telemetry/tracing.ts";
import { log } from "../../../core/log.ts";
import { sendRetryingOnce } from "../durable-object-retry.ts";

export interface SharedBreakerOptions {
  name: string;
  settings: BreakerSettings;
  /** How long a view of a closed circuit is trusted before a background refresh. */
  viewTtlMs: number;
  /** A probe permit's lease: the longest attempt plus the report's trip. */
  probeLeaseMs: number;
  /**
   * The budget a caller needs left to be given a half-open probe (the longest attempt): a probe its
   * caller's deadline would cut could only reopen the circuit, never close it.
   */
  probeBudgetMs?: number;
  namespace: DurableObjectNamespace<Breaker>;
}

/** This isolate's knowledge of the shared state. `until` is on this isolate's clock. */
interface View {
  state: CircuitStateName;
  /** Open: no call (and no round trip to the object) before this instant. */
  until: number;
  syncedAt: number;
}

/** A permit for one call: a plain one while closed, or a half-open probe granted by the object. */
interface Permit {
  probeId?: string | undefined;
}

/** The object could not be reached (not a deadline, not the client leaving). */
class ObjectUnreachable extends Error {
  override name = "ObjectUnreachable";
}

/**
 * One isolate's side of a breaker whose state lives in a Durable Object (breaker-object.ts), so an
 * outage discovered by one isolate protects all of them:
 * - a fresh isolate asks the object once before its first call: after a trip it sends nothing;
 * - while its view is open it refuses calls with no round trip at all (not even to the object);
 * - a healthy call costs no round trip either: only failures are reported (and answered with the
 *   new state), plus the first success after a failure, in the background;
 * - when the open time is over, the object hands out probe permits, a few for the whole fleet;
 * - a view of a closed circuit older than viewTtlMs is refreshed in the background;
 * - if the object cannot be reached, an isolate-local cockatiel breaker decides for a while
 *   (viewTtlMs) rather than failing the call.
 */
export class SharedBreaker implements CircuitBreaker {
  readonly #options: SharedBreakerOptions;
  readonly #args: BreakerArgs;
  readonly #counters: BreakerCounters;
  readonly #local: LocalBreaker;
  /** Undefined until the first sync: a fresh isolate knows nothing. */
  #view: View | undefined;
  #lastReported: "success" | "failure" | undefined;
  #unreachableUntil = 0;
  #refreshStartedAt = 0;

  constructor(options: SharedBreakerOptions) {
    this.#options = options;
    this.#args = { name: options.name, settings: options.settings };
    this.#counters = breakerCounters(options.name);
    this.#local = new LocalBreaker(options.name, options.settings, options.probeBudgetMs);
  }

  async execute<T>(call: BreakerCall, attempt: () => Promise<T>): Promise<T> {
    if (Date.now() < this.#unreachableUntil) return this.#viaLocal(call, attempt);
    let permit: Permit;
    try {
      permit = await this.#permit(call);
    } catch (err) {
      if (!(err instanceof ObjectUnreachable)) throw err;
      this.#degrade(err);
      return this.#viaLocal(call, attempt);
    }

    this.#counters.calls++;
    if (permit.probeId) this.#counters.probes++;
    let value: T;
    try {
      value = await attempt();
    } catch (err) {
      // A probe that does not succeed fails: its permit must not stay out until the lease ends.
      if (permit.probeId || countsAsFailure(err)) await this.#reportFailure(call, permit);
      throw err;
    }
    this.#counters.successes++;
    this.#reportSuccess(call, permit);
    this.#refreshIfStale(call);
    return value;
  }

  view(): BreakerView {
    if (Date.now() < this.#unreachableUntil) return this.#local.view();
    const view = this.#view;
    const state = view?.state ?? "closed";
    return {
      name: this.#options.name,
      scope: "shared",
      state,
      retryAfterMs: view ? Math.max(0, view.until - Date.now()) : 0,
    };
  }

  async #permit(call: BreakerCall): Promise<Permit> {
    if (!this.#view) this.#learn(await this.#ask(call, "sync", (o, a) => o.sync(a)));
    const view = this.#view!;
    if (view.state === "closed") return {};
    const now = Date.now();
    if (now < view.until) return this.#refuse(view.until - now);
    if (call.deadline.remaining() < (this.#options.probeBudgetMs ?? 0)) return this.#refuse(0);

    const grant = await this.#ask(call, "acquireProbe", (o, a) => o.acquireProbe(a, this.#options.probeLeaseMs));
    this.#learn(grant.snapshot);
    if (grant.granted) return { probeId: grant.probeId };
    if (grant.snapshot.state === "closed") return {};
    return this.#refuse(grant.snapshot.retryAfterMs);
  }

  #refuse(retryAfterMs: number): never {
    this.#counters.shortCircuited++;
    throw new CircuitOpenError(this.#options.name, retryAfterMs);
  }

  /**
   * Awaited, so this request's next attempt (and this isolate's next call) already knows whether
   * it opened the circuit; handed to waitUntil too, so the report lands even if the request's
   * deadline cuts the wait.
   */
  async #reportFailure(call: BreakerCall, permit: Permit): Promise<void> {
    this.#counters.failures++;
    this.#lastReported = "failure";
    const learned = this.#report(call, { ok: false, probeId: permit.probeId });
    call.background(`report failure to breaker ${this.#options.name}`, () => learned);
    if (call.deadline.signal.aborted) return;
    try {
      await call.deadline.race(learned, "upstream");
    } catch {
      // The call's own failure is what the caller gets; the report goes on in the background.
    }
  }

  /** Only the first success after a failure (or a probe's) is news to the object; healthy calls send nothing. */
  #reportSuccess(call: BreakerCall, permit: Permit): void {
    if (!permit.probeId && this.#lastReported !== "failure") return;
    this.#lastReported = "success";
    call.background(`report success to breaker ${this.#options.name}`, () =>
      this.#report(call, { ok: true, probeId: permit.probeId }),
    );
  }

  /** Reports an outcome and learns the state from the answer; never rejects. */
  async #report(call: BreakerCall, outcome: { ok: boolean; probeId?: string | undefined }): Promise<void> {
    try {
      const o = outcome.probeId ? { ok: outcome.ok, probeId: outcome.probeId } : { ok: outcome.ok };
      this.#learn(
        await this.#ask(call, "report", (stub, a) => stub.report(a, o), false, { "breaker.report.ok": outcome.ok }),
      );
    } catch (err) {
      if (err instanceof ObjectUnreachable) this.#degrade(err);
    }
  }

  #refreshIfStale(call: BreakerCall): void {
    const now = Date.now();
    const view = this.#view;
    if (!view || view.state !== "closed" || now - view.syncedAt < this.#options.viewTtlMs) return;
    // At most one refresh per TTL, even if one hangs: a timestamp rather than an in-flight flag.
    if (now - this.#refreshStartedAt < this.#options.viewTtlMs) return;
    this.#refreshStartedAt = now;
    call.background(`refresh breaker ${this.#options.name}`, async () => {
      try {
        this.#learn(await this.#ask(call, "sync", (o, a) => o.sync(a), false));
      } catch (err) {
        if (err instanceof ObjectUnreachable) this.#degrade(err);
      }
    });
  }

  /**
   * One round trip to the object. Inside the request (`withinDeadline`) it is bounded by the
   * request's deadline; a deadline or a departed client is theirs to report, anything else means
   * the object is unreachable.
   */
  async #ask<R>(
    call: BreakerCall,
    method: string,
    fn: (stub: DurableObjectStub<Breaker>, args: BreakerArgs) => Promise<R>,
    withinDeadline = true,
    attributes: Attributes = {},
  ): Promise<R> {
    this.#counters.objectCalls++;
    const { namespace, name } = this.#options;
    // Background hops (reports, refreshes) get a span too: the background task that runs them
    // exports it under the request's trace when it ends (inBackground), after the request's own spans.
    const hop = call.span?.child(`Breaker.${method}`, SpanKind.client, {
      "rpc.system": "cloudflare_durable_object",
      "rpc.service": "Breaker",
      "rpc.method": method,
      "breaker.name": name,
      "breaker.background": withinDeadline ? undefined : true,
      ...attributes,
    });
    const traceparent = hop?.traceparent();
    const waiting = track("breaker-hop", `Breaker.${method} ${name}`);
    const args = traceparent ? { ...this.#args, traceparent } : this.#args;
    try {
      const send = () => fn(namespace.get(namespace.idFromName(name)), args);
      if (!withinDeadline) return await send();
      // Only a read is sent twice: a report the reset object had already stored would count twice.
      if (method !== "sync") return await call.deadline.race(send(), "upstream");
      return await sendRetryingOnce(call.deadline, "Breaker", method, () => call.deadline.race(send(), "upstream"));
    } catch (err) {
      hop?.fail(err instanceof Error ? err.name : "error");
      if (err instanceof DeadlineExceededError || err instanceof ClientClosedError) throw err;
      this.#counters.objectErrors++;
      throw new ObjectUnreachable(err instanceof Error ? err.message : String(err), { cause: err });
    } finally {
      waiting();
      hop?.end();
    }
  }

  #learn(snapshot: BreakerSnapshot): void {
    const now = Date.now();
    if (snapshot.state !== this.#view?.state) this.#counters.transitions[snapshot.state]++;
    this.#view = { state: snapshot.state, until: now + snapshot.retryAfterMs, syncedAt: now };
  }

  #degrade(err: ObjectUnreachable): void {
    const now = Date.now();
    if (now >= this.#unreachableUntil) {
      log.warn("breaker object unreachable; this isolate's own breaker decides for now", {
        breaker: this.#options.name,
        forMs: this.#options.viewTtlMs,
        error: err.message,
      });
    }
    this.#unreachableUntil = now + this.#options.viewTtlMs;
    // Whatever was known is stale by the time the object answers again: sync afresh then.
    this.#view = undefined;
  }

  #viaLocal<T>(call: BreakerCall, attempt: () => Promise<T>): Promise<T> {
    this.#counters.fallbackCalls++;
    return this.#local.execute(call, attempt);
  }
}
