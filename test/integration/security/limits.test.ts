import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../../functions/env.ts";
import { countsByKind } from "../../../core/inflight.ts";
import { callerKey } from "../../../functions/resilience/rate-limiter/client.ts";
import { LocalFloor } from "../../../functions/resilience/rate-limiter/floor.ts";
import { LeaseBook, isolateLeases, leaseKey, leaseSize } from "../../../functions/resilience/rate-limiter/lease.ts";
import type { RateLimitPolicy } from "../../../functions/resilience/rate-limiter/object.ts";
import { expectProblem, type CallInit } from "../../helpers/api.ts";
import { clientIp, workerWith } from "../../helpers/app.ts";
import { sleep } from "../../helpers/insurance.ts";
import { settle } from "../../helpers/wait.ts";

/**
 * One caller: a client address and an operator's token of its own (/metrics needs one), so each
 * `ip` is a different principal, the key the limiter counts by.
 */
const from = (ip: string, init: CallInit = {}): CallInit => ({
  as: { role: "admin", sub: `ops-${ip}` },
  ...init,
  headers: { "cf-connecting-ip": ip, ...init.headers },
});

/**
 * For tests that expect the limiter's decision: on a loaded machine the object's answer can take
 * longer than the default 250 ms, and the request would fail open (a test of its own, below).
 */
const DECIDES = { RATE_LIMIT_TIMEOUT_MS: "10000" };

describe("rate limits", () => {
  it("admits RATE_LIMIT_REQUESTS per window with RateLimit headers, then answers 429 with Retry-After", async () => {
    const worker = workerWith({
      RATE_LIMIT_REQUESTS: "3",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      RATE_LIMIT_WINDOW_MS: "60000",
      ...DECIDES,
    });
    const ip = clientIp();
    const remaining: Array<string | null> = [];
    for (let i = 0; i < 3; i++) {
      const res = await worker.fetch("/metrics", from(ip));
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-policy")).toBe('"default";q=3;w=60');
      remaining.push(res.headers.get("ratelimit"));
    }
    expect(remaining).toEqual(['"default";r=2;t=60', '"default";r=1;t=60', '"default";r=0;t=60']);

    const limited = await worker.fetch("/metrics", from(ip));
    const problem = await expectProblem(limited, 429);
    expect(problem.type).toBe("https://clinic-edge.dev/problems/too-many-requests");
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers.get("ratelimit")).toMatch(/^"default";r=0;t=(59|60)$/);
  });

  it("counts each caller on its own", async () => {
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "1", RATE_LIMIT_WRITE_REQUESTS: "0", ...DECIDES });
    const [first, second] = [clientIp(), clientIp()];
    expect((await worker.fetch("/metrics", from(first))).status).toBe(200);
    expect((await worker.fetch("/metrics", from(first))).status).toBe(429);
    expect((await worker.fetch("/metrics", from(second))).status).toBe(200);
  });

  it("counts refused authentications against the sender's address: token guessing meets 429", async () => {
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "3", RATE_LIMIT_WRITE_REQUESTS: "0", ...DECIDES });
    const ip = clientIp();
    const guess = (token: string) =>
      worker.fetch("/metrics", { headers: { "cf-connecting-ip": ip, authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) await expectProblem(await guess(`guess-${i}`), 401);
    const limited = await guess("guess-3");
    await expectProblem(limited, 429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // The address is spent; a real principal from it is counted on its own.
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
  });

  it("never limits health checks, and does not count them", async () => {
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "1", RATE_LIMIT_WRITE_REQUESTS: "0", ...DECIDES });
    const ip = clientIp();
    for (let i = 0; i < 3; i++) {
      const res = await worker.fetch("/healthz", from(ip));
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit")).toBeNull();
    }
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(429);
    expect((await worker.fetch("/healthz", from(ip))).status).toBe(200);
    expect((await worker.fetch("/readyz", from(ip))).status).toBe(200);
  });

  it("holds writes to RATE_LIMIT_WRITE_REQUESTS while reads go on", async () => {
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "10", RATE_LIMIT_WRITE_REQUESTS: "1", ...DECIDES });
    const ip = clientIp();
    // An invalid body: the write is refused after the limiter, so nothing is written either way.
    const write = () =>
      worker.fetch(
        "/doctors",
        from(ip, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
      );
    const first = await write();
    expect(first.status).toBe(400);
    expect(first.headers.get("ratelimit-policy")).toBe('"default";q=10;w=60, "write";q=1;w=60');
    const second = await write();
    await expectProblem(second, 429);
    expect(second.headers.get("ratelimit")).toMatch(/^"default";r=9;t=\d+, "write";r=0;t=\d+$/);
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
  });

  it("admits a caller again once its requests leave the window", async () => {
    const worker = workerWith({
      RATE_LIMIT_REQUESTS: "1",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      RATE_LIMIT_WINDOW_MS: "1000",
      ...DECIDES,
    });
    const ip = clientIp();
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
    const limited = await worker.fetch("/metrics", from(ip));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    await sleep(1_050);
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
  });

  it("sends no RateLimit header and never 429 when RATE_LIMIT_REQUESTS and RATE_LIMIT_WRITE_REQUESTS are 0", async () => {
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "0", RATE_LIMIT_WRITE_REQUESTS: "0" });
    const ip = clientIp();
    for (let i = 0; i < 5; i++) {
      const res = await worker.fetch("/metrics", from(ip));
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit")).toBeNull();
    }
  });

  it("echoes none of the request's header values in the 429", async () => {
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "1", RATE_LIMIT_WRITE_REQUESTS: "0", ...DECIDES });
    const ip = clientIp();
    const init = from(ip, { headers: { "cf-connecting-ip": ip, "x-api-key": "s3cr3t-t0ken" } });
    await worker.fetch("/metrics", init);
    const limited = await worker.fetch("/metrics", init);
    expect(limited.status).toBe(429);
    const body = await limited.text();
    expect(body).not.toContain(ip);
    expect(body).not.toContain("s3cr3t");
  });

  it("fails open, counted, when the limiter does not answer within RATE_LIMIT_TIMEOUT_MS", async () => {
    // A RATE_LIMITER binding whose object never answers: what an overloaded or unreachable one looks like.
    const silent = {
      idFromName: (name: string) => name,
      get: () => ({ take: () => new Promise<never>(() => {}) }),
    } as unknown as Env["RATE_LIMITER"];
    // The scrapes are a caller of their own, under the limit too.
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "5", RATE_LIMIT_TIMEOUT_MS: "50", RATE_LIMITER: silent });
    const before = await worker.baseline("ratelimit_decisions_total", 'outcome="failed-open"');
    const started = Date.now();
    const res = await worker.fetch("/metrics", from(clientIp()));
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(res.headers.get("ratelimit")).toBeNull();
    // Both the request and the scrape went through the silent limiter.
    expect(await worker.metric("ratelimit_decisions_total", 'outcome="failed-open"')).toBeGreaterThanOrEqual(
      before + 2,
    );
  });

  it("fails open when the limiter's object throws", async () => {
    const broken = {
      idFromName: (name: string) => name,
      get: () => ({ take: () => Promise.reject(new Error("Durable Object is overloaded")) }),
    } as unknown as Env["RATE_LIMITER"];
    const worker = workerWith({ RATE_LIMIT_REQUESTS: "2", RATE_LIMITER: broken });
    const ip = clientIp();
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
  });
});

/**
 * The real RateLimiter objects behind a binding whose answers arrive `delayMs` late: a caller
 * that overloads its own object (each answer still counted by the object, too late to be used).
 * `asked` collects the caller key of each ask.
 */
function slowLimiter(delayMs: number, asked: string[] = []): Env["RATE_LIMITER"] {
  const names = new Map<string, string>();
  return {
    idFromName: (name: string) => {
      const id = env.RATE_LIMITER.idFromName(name);
      names.set(id.toString(), name);
      return id;
    },
    get: (id: DurableObjectId) => {
      asked.push(names.get(id.toString()) ?? "?");
      const stub = env.RATE_LIMITER.get(id);
      return {
        take: async (policies: RateLimitPolicy[], want = 1) => {
          await sleep(delayMs);
          return stub.take(policies, want);
        },
      };
    },
  } as unknown as Env["RATE_LIMITER"];
}

describe("the isolate's floor while a caller's limiter does not answer", () => {
  const SLOW = { RATE_LIMIT_WRITE_REQUESTS: "0", RATE_LIMIT_TIMEOUT_MS: "20", RATE_LIMITER: slowLimiter(150) };

  it("admits exactly the limit of a caller whose own object is too slow, then 429 with Retry-After and RateLimit headers", async () => {
    const worker = workerWith({ ...SLOW, RATE_LIMIT_REQUESTS: "3", RATE_LIMIT_WINDOW_MS: "60000" });
    const ip = clientIp();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 8; i++) {
      last = await worker.fetch("/metrics", from(ip));
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
    await expectProblem(last!, 429);
    const retryAfter = Number(last!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(last!.headers.get("ratelimit-policy")).toBe('"default";q=3;w=60');
    expect(last!.headers.get("ratelimit")).toMatch(/^"default";r=0;t=(59|60)$/);
  });

  it("refuses over the limit without asking the object again", async () => {
    const asked: string[] = [];
    const worker = workerWith({ ...SLOW, RATE_LIMIT_REQUESTS: "2", RATE_LIMITER: slowLimiter(150, asked) });
    const ip = clientIp();
    for (let i = 0; i < 5; i++) await worker.fetch("/metrics", from(ip));
    expect(asked.filter((caller) => caller === `admin:ops-${ip}`)).toHaveLength(2);
  });

  it("counts each caller on its own, and admits the caller again once its floor window has passed", async () => {
    const worker = workerWith({ ...SLOW, RATE_LIMIT_REQUESTS: "2", RATE_LIMIT_WINDOW_MS: "1000" });
    const [first, second] = [clientIp(), clientIp()];
    for (let i = 0; i < 2; i++) expect((await worker.fetch("/metrics", from(first))).status).toBe(200);
    expect((await worker.fetch("/metrics", from(first))).status).toBe(429);
    expect((await worker.fetch("/metrics", from(second))).status).toBe(200);
    await sleep(1_050);
    expect((await worker.fetch("/metrics", from(first))).status).toBe(200);
  });

  it("holds writes to RATE_LIMIT_WRITE_REQUESTS while reads go on", async () => {
    const worker = workerWith({ ...SLOW, RATE_LIMIT_REQUESTS: "5", RATE_LIMIT_WRITE_REQUESTS: "1" });
    const ip = clientIp();
    const write = () =>
      worker.fetch(
        "/doctors",
        from(ip, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
      );
    expect((await write()).status).toBe(400);
    const second = await write();
    await expectProblem(second, 429);
    expect(second.headers.get("ratelimit")).toMatch(/^"default";r=4;t=\d+, "write";r=0;t=\d+$/);
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
  });
});

describe("LocalFloor", () => {
  const policy: RateLimitPolicy = { name: "default", limit: 2, windowMs: 60_000 };

  it("keeps at most its cap of callers, the least recently counted going first", () => {
    const floor = new LocalFloor(2);
    for (const caller of ["a", "b"]) for (let i = 0; i < 2; i++) floor.take(caller, [policy], 0);
    expect(floor.refusal("a", [policy], 1)?.allowed).toBe(false);
    floor.take("c", [policy], 2);
    expect(floor.size).toBe(2);
    expect(floor.refusal("a", [policy], 3)).toBeUndefined();
    expect(floor.refusal("b", [policy], 3)?.allowed).toBe(false);
  });

  it("starts afresh when the limit or window changes", () => {
    const floor = new LocalFloor();
    for (let i = 0; i < 2; i++) floor.take("a", [policy], 0);
    expect(floor.take("a", [policy], 1).allowed).toBe(false);
    expect(floor.take("a", [{ ...policy, limit: 3 }], 1).allowed).toBe(true);
  });
});

/**
 * The real RateLimiter objects behind a binding that records each ask: how many admissions it
 * wanted, and how many batch asks (more than one admission) were waiting at once.
 */
function countingLimiter() {
  const asks: number[] = [];
  let waiting = 0;
  let mostWaiting = 0;
  const binding = {
    idFromName: (name: string) => env.RATE_LIMITER.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = env.RATE_LIMITER.get(id);
      return {
        take: async (policies: RateLimitPolicy[], want = 1) => {
          asks.push(want);
          if (want > 1) mostWaiting = Math.max(mostWaiting, ++waiting);
          try {
            return await stub.take(policies, want);
          } finally {
            if (want > 1) waiting--;
          }
        },
      };
    },
  } as unknown as Env["RATE_LIMITER"];
  return { binding, asks, mostWaiting: () => mostWaiting };
}

/** The default policy of a limit of `limit` per minute, as the middleware asks for it. */
const perMinute = (limit: number): RateLimitPolicy[] => [{ name: "default", limit, windowMs: 60_000 }];

describe("rate limit leases", () => {
  it("are 1/20 of the tightest limit, at most RATE_LIMIT_LEASE_MAX, and none for a small limit", () => {
    expect(leaseSize(perMinute(100_000), 50)).toBe(50);
    expect(leaseSize(perMinute(300), 50)).toBe(15);
    expect(leaseSize([...perMinute(300), { name: "write", limit: 60, windowMs: 60_000 }], 50)).toBe(3);
    expect(leaseSize(perMinute(19), 50)).toBe(1);
    expect(leaseSize(perMinute(100_000), 1)).toBe(1);
  });

  it("cost a busy caller one limiter round trip per lease, with RateLimit headers counting what the isolate holds", async () => {
    const limiter = countingLimiter();
    const worker = workerWith({
      RATE_LIMIT_REQUESTS: "100",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      RATE_LIMIT_LEASE_MS: "60000",
      RATE_LIMITER: limiter.binding,
      ...DECIDES,
    });
    const ip = clientIp();
    const seen: Array<string | null> = [];
    for (let i = 0; i < 20; i++) {
      const res = await worker.fetch("/metrics", from(ip));
      expect(res.status).toBe(200);
      seen.push(res.headers.get("ratelimit"));
    }
    // Leases of 5 (100 / 20): four asks for twenty requests.
    expect(limiter.asks).toEqual([5, 5, 5, 5]);
    expect(seen[0]).toBe('"default";r=99;t=60');
    expect(seen[19]).toMatch(/^"default";r=80;t=(59|60)$/);
  });

  it("are not taken with RATE_LIMIT_LEASE_MAX=1: every request asks the limiter", async () => {
    const limiter = countingLimiter();
    const worker = workerWith({
      RATE_LIMIT_REQUESTS: "100",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      RATE_LIMIT_LEASE_MAX: "1",
      RATE_LIMITER: limiter.binding,
      ...DECIDES,
    });
    const ip = clientIp();
    for (let i = 0; i < 5; i++) expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
    expect(limiter.asks).toEqual([1, 1, 1, 1, 1]);
  });

  it("age out after RATE_LIMIT_LEASE_MS: the next request asks again", async () => {
    const limiter = countingLimiter();
    const worker = workerWith({
      RATE_LIMIT_REQUESTS: "100",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      RATE_LIMIT_LEASE_MS: "10",
      RATE_LIMITER: limiter.binding,
      ...DECIDES,
    });
    const ip = clientIp();
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
    await sleep(50);
    expect((await worker.fetch("/metrics", from(ip))).status).toBe(200);
    expect(limiter.asks).toEqual([5, 5]);
  });

  it("hold at most one lease per caller in an isolate, however many of its requests arrive at once", async () => {
    const limiter = countingLimiter();
    const worker = workerWith({
      RATE_LIMIT_REQUESTS: "1000",
      RATE_LIMIT_WRITE_REQUESTS: "0",
      RATE_LIMIT_LEASE_MAX: "10",
      RATE_LIMIT_LEASE_MS: "60000",
      RATE_LIMITER: limiter.binding,
      ...DECIDES,
    });
    const ip = clientIp();
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async () => (await worker.fetch("/metrics", from(ip))).status),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(limiter.mostWaiting()).toBe(1);
    const key = leaseKey(`admin:ops-${ip}`, perMinute(1000));
    expect(isolateLeases.held(key, Date.now())).toBeLessThanOrEqual(10 - 1);
  });

  it("never let a caller past the limit within a window, whatever isolates its requests land on", async () => {
    // Three isolates' lease books in front of one caller's object: each request spends its
    // isolate's lease or asks for a new one; the object counts every batch when it grants it.
    const isolates = [new LeaseBook(), new LeaseBook(), new LeaseBook()];
    const policies = perMinute(100);
    const batch = leaseSize(policies, 50);
    const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`lease-bound-${crypto.randomUUID()}`));
    const key = leaseKey("caller", policies);
    let admitted = 0;
    const refused = new Set<number>();
    for (let turn = 0; refused.size < isolates.length && turn < 1_000; turn++) {
      const i = turn % isolates.length;
      const book = isolates[i]!;
      if (book.spend(key, Date.now())) {
        admitted++;
        continue;
      }
      const decision = await stub.take(policies, batch);
      if (!decision.allowed) {
        refused.add(i);
        continue;
      }
      admitted++;
      book.store(key, decision, Date.now(), 60_000);
      expect(book.held(key, Date.now())).toBeLessThanOrEqual(batch - 1);
    }
    // Every admission the object granted was spent, and no more: the window holds the limit exactly.
    expect(admitted).toBe(100);
    expect(refused.size).toBe(isolates.length);
  });
});

describe("callerKey", () => {
  const keyOf = async (principal: AppEnv["Variables"]["principal"], headers: Record<string, string> = {}) => {
    const app = new Hono<AppEnv>()
      .use(async (c, next) => {
        if (principal) c.set("principal", principal);
        await next();
      })
      .get("/", (c) => c.text(callerKey(c)));
    return (await app.request("/", { headers })).text();
  };

  it("is role:sub for an authenticated principal, whatever the IP", async () => {
    expect(await keyOf({ sub: "u-42", role: "doctor" }, { "cf-connecting-ip": "10.0.0.1" })).toBe("doctor:u-42");
  });

  it("is the client IP for an anonymous caller, 'anonymous' without one", async () => {
    expect(await keyOf(undefined, { "cf-connecting-ip": "203.0.113.9" })).toBe("ip:203.0.113.9");
    expect(await keyOf(undefined)).toBe("anonymous");
  });

  it("is the /64 for an anonymous IPv6 caller: rotating addresses in one network share one bucket", async () => {
    const a = await keyOf(undefined, { "cf-connecting-ip": "2001:db8:1:2::1" });
    expect(a).toBe("ip6:2001:db8:1:2::/64");
    expect(await keyOf(undefined, { "cf-connecting-ip": "2001:db8:1:2:dead:beef:0:7" })).toBe(a);
    expect(await keyOf(undefined, { "cf-connecting-ip": "2001:db8:1:3::1" })).not.toBe(a);
  });
});

describe("load shedding", () => {
  /** Starts a POST whose body never ends: the request stays in flight until `release()`. */
  function held(worker: ReturnType<typeof workerWith>) {
    const body = new TransformStream<Uint8Array, Uint8Array>();
    const writer = body.writable.getWriter();
    const response = worker.fetch("/doctors", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body.readable,
    });
    return {
      response,
      async release() {
        await writer.write(new TextEncoder().encode("{}"));
        await writer.close();
        return response;
      },
    };
  }

  async function holding(worker: ReturnType<typeof workerWith>, n: number) {
    const requests = Array.from({ length: n }, () => held(worker));
    const inFlight = await settle(
      () => Promise.resolve(countsByKind().request),
      (count) => count >= n,
    );
    expect(inFlight).toBe(n);
    return requests;
  }

  it("answers 503 with Retry-After, counted, above MAX_INFLIGHT_REQUESTS; health checks still pass", async () => {
    const worker = workerWith({ MAX_INFLIGHT_REQUESTS: "2" });
    const before = await worker.baseline("requests_shed_total");
    const requests = await holding(worker, 2);

    const shed = await worker.fetch("/doctors?limit=1");
    const problem = await expectProblem(shed, 503);
    expect(problem.type).toBe("https://clinic-edge.dev/problems/service-unavailable");
    expect(shed.headers.get("retry-after")).toBe("1");
    expect((await worker.fetch("/healthz")).status).toBe(200);
    expect((await worker.fetch("/readyz")).status).toBe(200);

    const released = await Promise.all(requests.map((r) => r.release()));
    // The held requests themselves were served (400: their body is an empty object).
    expect(released.map((r) => r.status)).toEqual([400, 400]);
    expect(await worker.metric("requests_shed_total")).toBe(before + 1);
  });

  it("leaves requests alone at MAX_INFLIGHT_REQUESTS or below", async () => {
    const worker = workerWith({ MAX_INFLIGHT_REQUESTS: "2" });
    const requests = await holding(worker, 1);
    const res = await worker.fetch("/doctors?limit=1");
    expect(res.status).toBe(200);
    await Promise.all(requests.map((r) => r.release()));
  });
});
