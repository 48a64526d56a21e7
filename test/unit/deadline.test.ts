/**
 * A request's budget (core/deadline.ts) on its own: what race() answers, which error an abort
 * becomes, and how a deadline under another one (book.ts's insurer check) follows its parent.
 */
import { describe, expect, it } from "vitest";
import { ClientClosedError, Deadline, DeadlineExceededError } from "../../core/deadline.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Work that never settles: only the deadline can end the wait. */
const never = <T>() => new Promise<T>(() => {});

/** The error a promise rejects with (a value instead fails the test). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, the work resolved");
}

describe("Deadline.race", () => {
  it("resolves with the work's value when it finishes inside the budget", async () => {
    const deadline = Deadline.start(5_000);
    await expect(
      deadline.race(
        sleep(5).then(() => "done"),
        "db",
      ),
    ).resolves.toBe("done");
  });

  it("rejects with the work's own error when it fails inside the budget", async () => {
    const deadline = Deadline.start(5_000);
    const failure = new Error("connection refused");
    await expect(deadline.race(Promise.reject(failure), "db")).rejects.toBe(failure);
  });

  it("rejects with DeadlineExceededError naming the stage when the work outlasts the budget", async () => {
    const deadline = Deadline.start(20);
    const error = await rejection(deadline.race(never<string>(), "upstream"));
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).stage).toBe("upstream");
    expect((error as DeadlineExceededError).message).toContain("an upstream service");
  });

  it("rejects with ClientClosedError, not a deadline error, when the parent signal (the client) aborts", async () => {
    const client = new AbortController();
    const deadline = Deadline.start(5_000, client.signal);
    const racing = rejection(deadline.race(never<string>(), "db"));
    client.abort();
    expect(await racing).toBeInstanceOf(ClientClosedError);
    expect(deadline.clientGone).toBe(true);
  });

  it("refuses at once on a deadline that has already fired, without waiting for the work", async () => {
    const deadline = Deadline.start(10);
    await sleep(50);
    expect(deadline.signal.aborted).toBe(true);
    await expect(deadline.race(never<string>(), "coalescer")).rejects.toMatchObject({
      name: "DeadlineExceededError",
      stage: "coalescer",
    });
  });

  it("hands a result that arrives after the deadline to onLate, so it can be released", async () => {
    const deadline = Deadline.start(10);
    const late: string[] = [];
    const lateWork = sleep(80).then(() => "connection");
    await expect(deadline.race(lateWork, "db", (value) => late.push(value))).rejects.toBeInstanceOf(
      DeadlineExceededError,
    );
    expect(late).toEqual([]);
    await lateWork;
    await sleep(0);
    expect(late).toEqual(["connection"]);
  });
});

describe("Deadline's clock", () => {
  it("counts remaining() down while time passes", async () => {
    const deadline = Deadline.start(10_000);
    const first = deadline.remaining();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(10_000);
    await sleep(30);
    expect(deadline.remaining()).toBeLessThan(first);
  });

  it("never reports a negative remaining(), however long ago it expired", () => {
    const deadline = Deadline.start(100, undefined, Date.now() - 60_000);
    expect(deadline.budgetMs).toBe(100);
    expect(deadline.remaining()).toBe(0);
  });

  it("aborts its signal after expiry, and check() then throws the stage's error", async () => {
    const deadline = Deadline.start(20);
    expect(deadline.signal.aborted).toBe(false);
    expect(() => deadline.check("request")).not.toThrow();
    await sleep(80);
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.clientGone).toBe(false);
    expect(() => deadline.check("request")).toThrow(DeadlineExceededError);
  });
});

describe("a deadline under another one", () => {
  it("fires when its parent runs out, reporting a deadline rather than a client disconnect", async () => {
    const parent = Deadline.start(20);
    const child = Deadline.start(10_000, parent.signal);
    const error = await rejection(child.race(never<string>(), "upstream"));
    expect(parent.signal.aborted).toBe(true);
    expect(child.signal.aborted).toBe(true);
    expect(error).toBeInstanceOf(DeadlineExceededError);
  });

  it("fires at its own, shorter budget while the parent keeps going", async () => {
    const parent = Deadline.start(10_000);
    const child = Deadline.start(20, parent.signal);
    await expect(child.race(never<string>(), "upstream")).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(parent.signal.aborted).toBe(false);
  });

  it("is cancelled at once when the client behind its parent goes away", async () => {
    const client = new AbortController();
    const parent = Deadline.start(10_000, client.signal);
    const child = Deadline.start(10_000, parent.signal);
    const racing = rejection(child.race(never<string>(), "upstream"));
    client.abort();
    expect(await racing).toBeInstanceOf(ClientClosedError);
  });
});

describe("the errors a deadline ends with", () => {
  it("say where the time ran out, in words a 504's detail can carry", () => {
    const stages = ["db", "upstream", "coalescer", "request", "background"] as const;
    expect(Object.fromEntries(stages.map((s) => [s, new DeadlineExceededError(s).message]))).toEqual({
      db: "deadline exceeded while waiting for the database",
      upstream: "deadline exceeded while waiting for an upstream service",
      coalescer: "deadline exceeded while waiting for the shared cache (coalescer)",
      request: "deadline exceeded while waiting for the request",
      background: "deadline exceeded while waiting for a background task",
    });
  });

  it("carry their names for the logs", () => {
    expect(new DeadlineExceededError("db").name).toBe("DeadlineExceededError");
    expect(new ClientClosedError()).toMatchObject({
      name: "ClientClosedError",
      message: "the client closed the request",
    });
  });
});
