/**
 * A local stand-in for the insurer's eligibility API, started by `npm run dev`, the tests and the
 * breaker bench. It speaks the API clinic-edge's client expects (functions/insurance/client.ts):
 *
 *   POST /v1/eligibility   Authorization: Bearer <key>   {"memberId": "...", "serviceDate": "YYYY-MM-DD"}
 *   200 {"memberId", "serviceDate", "covered": boolean, "plan": string | null}
 *   404 {"error": "member_not_found"}   401 wrong or missing key   400 not such a body
 *
 * Answers are deterministic by member id prefix, so tests running in parallel each get their own
 * behaviour from their own ids and never touch shared switches:
 *
 *   NC...            not covered
 *   NF...            404 member_not_found (clinic-edge reads it as not covered)
 *   ERR...           503, always
 *   RST...           the connection is reset (no HTTP answer at all)
 *   BAD...           200 with a body that is not an eligibility answer
 *   SLOW<ms>-...     answers "covered" after <ms> milliseconds (e.g. SLOW1500-A1B2)
 *   FLAKY...         503 the first time this id is asked, "covered" afterwards
 *   anything else    covered, plan "Standard"
 *
 * Switches for watching the breaker by hand (they affect every caller, so tests do not use them):
 *
 *   POST /__control {"down": true|false, "latencyMs": n, "errorRate": 0..1}   current settings back
 *   GET  /__control
 *   GET  /__stats[?memberId=...]   {"requests": n, ...}: eligibility requests that reached this server
 *                                  (per member id also "lastTraceparent": the trace context it carried)
 *
 * "down" resets every eligibility request's connection, like a dead host behind a load balancer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface InsuranceOptions {
  /** The key callers must send as `Authorization: Bearer <key>`. */
  apiKey: string;
  host?: string;
  port?: number;
}

export interface InsuranceControls {
  /** Reset every eligibility request's connection. */
  down: boolean;
  /** Added before every answer. */
  latencyMs: number;
  /** Share of eligibility requests answered 503 (0..1). */
  errorRate: number;
}

export interface InsuranceStats {
  /** Eligibility requests that reached the server (refused and reset ones included). */
  requests: number;
  /** Of which answered 200 or 404. */
  answered: number;
  /** Of which 5xx, resets and malformed answers. */
  failed: number;
  /** Per member id only: the W3C traceparent header of the latest request, when it carried one. */
  lastTraceparent?: string;
}

export interface InsuranceStandIn {
  url: string;
  controls(change?: Partial<InsuranceControls>): InsuranceControls;
  stats(memberId?: string): InsuranceStats;
  close(): Promise<void>;
}

/** Member ids remembered for per-id counters; the oldest are forgotten first. */
const MAX_TRACKED_IDS = 10_000;
const MAX_BODY_BYTES = 4_096;

const zero = (): InsuranceStats => ({ requests: 0, answered: 0, failed: 0 });

type Outcome = "answered" | "failed";

export async function startInsurance(options: InsuranceOptions): Promise<InsuranceStandIn> {
  const controls: InsuranceControls = { down: false, latencyMs: 0, errorRate: 0 };
  const total = zero();
  const byId = new Map<string, InsuranceStats>();

  const statsOf = (memberId: string): InsuranceStats => {
    let s = byId.get(memberId);
    if (!s) {
      if (byId.size >= MAX_TRACKED_IDS) byId.delete(byId.keys().next().value!);
      s = zero();
      byId.set(memberId, s);
    }
    return s;
  };

  const count = (memberId: string | undefined, outcome?: Outcome): void => {
    for (const s of memberId === undefined ? [total] : [total, statsOf(memberId)]) {
      if (outcome === undefined) s.requests++;
      else s[outcome]++;
    }
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

  const control = (change: Partial<InsuranceControls> = {}): InsuranceControls => {
    if (change.down !== undefined) controls.down = change.down;
    if (change.latencyMs !== undefined) controls.latencyMs = Math.max(0, Math.min(60_000, change.latencyMs));
    if (change.errorRate !== undefined) controls.errorRate = Math.max(0, Math.min(1, change.errorRate));
    return { ...controls };
  };

  async function eligibility(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const query = parseQuery(raw);
    const memberId = query?.memberId;
    count(memberId);
    if (controls.down) {
      count(memberId, "failed");
      req.socket.destroy();
      return;
    }
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) return send(res, 401, { error: "unauthorized" });
    if (!query) return send(res, 400, { error: "expected {memberId, serviceDate: YYYY-MM-DD}" });
    if (controls.latencyMs > 0) await sleep(controls.latencyMs);
    if (Math.random() < controls.errorRate) {
      count(memberId, "failed");
      return send(res, 503, { error: "unavailable" });
    }
    const seen = statsOf(query.memberId);
    const traceparent = req.headers.traceparent;
    if (typeof traceparent === "string") seen.lastTraceparent = traceparent;
    await byPrefix(query, req, res, seen);
  }

  async function byPrefix(
    query: Query,
    req: IncomingMessage,
    res: ServerResponse,
    seen: InsuranceStats,
  ): Promise<void> {
    const { memberId, serviceDate } = query;
    const answer = (covered: boolean, plan: string | null): void => {
      count(memberId, "answered");
      send(res, 200, { memberId, serviceDate, covered, plan });
    };
    const fail = (status: number): void => {
      count(memberId, "failed");
      send(res, status, { error: "unavailable" });
    };
    if (memberId.startsWith("NC")) return answer(false, null);
    if (memberId.startsWith("NF")) {
      count(memberId, "answered");
      return send(res, 404, { error: "member_not_found" });
    }
    if (memberId.startsWith("ERR")) return fail(503);
    if (memberId.startsWith("RST")) {
      count(memberId, "failed");
      req.socket.resetAndDestroy();
      return;
    }
    if (memberId.startsWith("BAD")) {
      count(memberId, "failed");
      return send(res, 200, '{"memberId": 42, "covered": "maybe"');
    }
    if (memberId.startsWith("FLAKY") && seen.requests === 1) return fail(503);
    const slow = /^SLOW(\d{1,5})-/.exec(memberId);
    if (slow) await sleep(Number(slow[1]));
    return answer(true, "Standard");
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://stand-in");
    if (req.method === "POST" && url.pathname === "/v1/eligibility") return eligibility(req, res);
    if (url.pathname === "/__control" && req.method === "GET") return send(res, 200, control());
    if (url.pathname === "/__control" && req.method === "POST") {
      const change = parseControls(await readBody(req));
      return change
        ? send(res, 200, control(change))
        : send(res, 400, { error: "expected {down?, latencyMs?, errorRate?}" });
    }
    if (url.pathname === "/__stats" && req.method === "GET") {
      const memberId = url.searchParams.get("memberId");
      return send(res, 200, memberId === null ? total : (byId.get(memberId) ?? zero()));
    }
    send(res, 404, { error: "not_found" });
  }

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !req.socket.destroyed) send(res, 500, { error: String(err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = http.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    controls: control,
    stats: (memberId) => ({ ...(memberId === undefined ? total : (byId.get(memberId) ?? zero())) }),
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

interface Query {
  memberId: string;
  serviceDate: string;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseQuery(text: string): Query | undefined {
  const v = parseJson(text);
  if (typeof v !== "object" || v === null) return undefined;
  const { memberId, serviceDate } = v as Record<string, unknown>;
  if (typeof memberId !== "string" || memberId.length === 0 || memberId.length > 64) return undefined;
  if (typeof serviceDate !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(serviceDate)) return undefined;
  return { memberId, serviceDate };
}

function parseControls(text: string): Partial<InsuranceControls> | undefined {
  const v = parseJson(text);
  if (typeof v !== "object" || v === null) return undefined;
  const { down, latencyMs, errorRate } = v as Record<string, unknown>;
  const change: Partial<InsuranceControls> = {};
  if (down !== undefined) {
    if (typeof down !== "boolean") return undefined;
    change.down = down;
  }
  if (latencyMs !== undefined) {
    if (typeof latencyMs !== "number" || !Number.isFinite(latencyMs)) return undefined;
    change.latencyMs = latencyMs;
  }
  if (errorRate !== undefined) {
    if (typeof errorRate !== "number" || !Number.isFinite(errorRate)) return undefined;
    change.errorRate = errorRate;
  }
  return change;
}
