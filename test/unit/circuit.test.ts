/**
 * The circuit state machine on its own: the isolate-local breaker (functions/resilience/breaker/local.ts)
 * and what every breaker shares (circuit.ts), with real timers and short open times.
 */
import { describe, expect, it } from "vitest";
import { ClientClosedError, Deadline, DeadlineExceededError } from "../../core/deadline.ts";
import {
  CircuitOpenError,
  breakerCounters,
  countsAsFailure,
  type BreakerCall,
} from "../../functions/resilience/breaker/circuit.ts";
import { LocalBreaker } from "../../functions/resilience/breaker/local.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const call = (): BreakerCall => ({ deadline: Deadline.start(10_000), background: () => {} });

/** A breaker of its own (counters are kept per name, per isolate). */
function breaker(failureThreshold: number, openMs: number): { name: string; breaker: LocalBreaker } {
  const name = `unit-${crypto.randomUUID()}`;
  return { name, breaker: new LocalBreaker(name, { failureThreshold, openMs, halfOpenProbes: 1 }) };
}

/** A healthy dependency that counts its calls. */
function dependency() {
  const dep = {
    calls: 0,
    call: async (): Promise<string> => {
      dep.calls++;
      await sleep(1);
      return "ok";
    },
  };
  return dep;
}

/** The error `breaker.execute` rejects with (a value instead fails the test). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** Runs `n` calls that fail with `error`, each awaited. */
async function failTimes(b: LocalBreaker, n: number, error: Error = new Error("insurer down")): Promise<void> {
  for (let i = 0; i < n; i++) {
    expect(await rejection(b.execute(call(), () => Promise.reject(error)))).toBe(error);
  }
}

describe("a closed circuit", () => {
  it("lets calls through and returns their value", async () => {
    const { breaker: b } = breaker(3, 60_000);
    const dep = dependency();
    await expect(b.execute(call(), dep.call)).resolves.toBe("ok");
    await expect(b.execute(call(), dep.call)).resolves.toBe("ok");
    expect(dep.calls).toBe(2);
    expect(b.view()).toMatchObject({ state: "closed", scope: "local", retryAfterMs: 0 });
  });

  it("stays closed below the threshold of consecutive failures and opens at it", async () => {
    const { breaker: b } = breaker(3, 60_000);
    await failTimes(b, 2);
    expect(b.view().state).toBe("closed");
    await failTimes(b, 1);
    expect(b.view().state).toBe("open");
  });

  it("starts the count again after a success", async () => {
    const { breaker: b } = breaker(3, 60_000);
    const dep = dependency();
    await failTimes(b, 2);
    await expect(b.execute(call(), dep.call)).resolves.toBe("ok");
    await failTimes(b, 2);
    expect(b.view().state).toBe("closed");
  });
});

describe("an open circuit", () => {
  it("refuses calls with CircuitOpenError, without calling the dependency, saying when to retry", async () => {
    const { name, breaker: b } = breaker(2, 60_000);
    await failTimes(b, 2);
    const dep = dependency();
    const err = await rejection(b.execute(call(), dep.call));
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).breaker).toBe(name);
    expect((err as CircuitOpenError).retryAfterMs).toBeGreaterThan(50_000);
    expect((err as CircuitOpenError).retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(dep.calls).toBe(0);
    expect(breakerCounters(name)).toMatchObject({ calls: 2, failures: 2, shortCircuited: 1 });
  });

  it("lets one probe through after openMs, and the probe's success closes it", async () => {
    const { breaker: b } = breaker(1, 50);
    await failTimes(b, 1);
    expect(b.view().state).toBe("open");
    await sleep(150);
    const dep = dependency();
    await expect(b.execute(call(), dep.call)).resolves.toBe("ok");
    expect(dep.calls).toBe(1);
    expect(b.view().state).toBe("closed");
    await expect(b.execute(call(), dep.call)).resolves.toBe("ok");
  });

  it("reopens when the probe fails, for another openMs", async () => {
    const { breaker: b } = breaker(1, 100);
    await failTimes(b, 1);
    await sleep(250);
    await failTimes(b, 1);
    expect(b.view().state).toBe("open");
    const dep = dependency();
    const err = await rejection(b.execute(call(), dep.call));
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).retryAfterMs).toBeGreaterThan(0);
    expect(dep.calls).toBe(0);
  });

  it("does not close on a probe whose client went away: it stays open for another openMs", async () => {
    const { breaker: b } = breaker(1, 100);
    await failTimes(b, 1);
    await sleep(250);
    const gone = await rejection(b.execute(call(), () => Promise.reject(new ClientClosedError())));
    expect(gone).toBeInstanceOf(ClientClosedError);
    expect(b.view().state).toBe("open");
    const dep = dependency();
    expect(await rejection(b.execute(call(), dep.call))).toBeInstanceOf(CircuitOpenError);
    expect(dep.calls).toBe(0);
  });

  it("refuses other calls while the probe is in flight, rather than queueing them behind it", async () => {
    const { name, breaker: b } = breaker(1, 50);
    await failTimes(b, 1);
    await sleep(150);
    const { promise: answer, resolve } = Promise.withResolvers<string>();
    const probe = b.execute(call(), () => answer);
    expect(b.view().state).toBe("half-open");
    const dep = dependency();
    const err = await rejection(b.execute(call(), dep.call));
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).retryAfterMs).toBe(0);
    expect(dep.calls).toBe(0);
    resolve("ok");
    await expect(probe).resolves.toBe("ok");
    expect(b.view().state).toBe("closed");
    expect(breakerCounters(name).probes).toBe(1);
  });
});

describe("what counts as the dependency's failure", () => {
  it("is anything but a call its caller ended (departure or the caller's own deadline)", () => {
    expect(countsAsFailure(new Error("ECONNRESET"))).toBe(true);
    expect(countsAsFailure(new ClientClosedError())).toBe(false);
    expect(countsAsFailure(new DeadlineExceededError("upstream"))).toBe(false);
  });

  it("does not open the circuit however many clients go away", async () => {
    const { name, breaker: b } = breaker(2, 60_000);
    await failTimes(b, 5, new ClientClosedError());
    expect(b.view().state).toBe("closed");
    expect(breakerCounters(name).failures).toBe(0);
  });

  it("does not open the circuit however many callers' own deadlines cut their calls", async () => {
    const { name, breaker: b } = breaker(2, 60_000);
    await failTimes(b, 5, new DeadlineExceededError("upstream"));
    expect(b.view().state).toBe("closed");
    expect(breakerCounters(name).failures).toBe(0);
  });
});

describe("the half-open probe", () => {
  it("is not given to a caller whose budget cannot wait a whole attempt: refused, the circuit left open", async () => {
    const name = `unit-${crypto.randomUUID()}`;
    const b = new LocalBreaker(name, { failureThreshold: 1, openMs: 30, halfOpenProbes: 1 }, 1_000);
    await failTimes(b, 1, new Error("ECONNRESET"));
    await sleep(40);
    const dep = dependency();
    const short: BreakerCall = { deadline: Deadline.start(200), background: () => {} };
    expect(await rejection(b.execute(short, dep.call))).toBeInstanceOf(CircuitOpenError);
    expect(dep.calls).toBe(0);
    expect(b.view().state).toBe("open");
    // A caller with the budget for a whole attempt probes, and its success closes the circuit.
    await expect(b.execute(call(), dep.call)).resolves.toBe("ok");
    expect(dep.calls).toBe(1);
    expect(b.view().state).toBe("closed");
  });
});

describe("CircuitOpenError", () => {
  it("names the breaker and says when to retry, in whole milliseconds, never negative", () => {
    expect(new CircuitOpenError("insurance", 1_234.2)).toMatchObject({
      name: "CircuitOpenError",
      message: 'circuit breaker "insurance" is open',
      breaker: "insurance",
      retryAfterMs: 1_235,
    });
    expect(new CircuitOpenError("insurance", -5).retryAfterMs).toBe(0);
  });
});
