import { Agent, request, type OutgoingHttpHeaders } from "node:http";
import { StatusTally } from "./failures.ts";

function get(agent: Agent, url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

export interface LoadSample {
  /** Latencies of the 2xx answers, ms, in arrival order. */
  latencies: number[];
  /** When each of those was sent (`performance.now()`), same order. */
  sentAt: number[];
  /** Non-2xx answers and network errors. */
  errors: number;
  /** Every answer by status (refuseOnFailures in ./failures.ts judges them). */
  statuses: StatusTally;
  elapsedS: number;
}

/**
 * Closed loop: `concurrency` GETs in flight, round-robin over `urls`, until the time is up. `headers`
 * go with every request (the benches' bearer token: adminHeaders() in ./stack.ts).
 */
export async function closedLoop(
  urls: string[],
  concurrency: number,
  seconds: number,
  headers: Record<string, string>,
): Promise<LoadSample> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const sentAt: number[] = [];
  let errors = 0;
  const statuses = new StatusTally();
  let next = 0;
  const started = performance.now();
  const until = started + seconds * 1_000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const url = urls[next++ % urls.length]!;
        const t0 = performance.now();
        const status = await get(agent, url, headers).catch(() => 0);
        statuses.add(status);
        if (status >= 200 && status < 300) {
          latencies.push(performance.now() - t0);
          sentAt.push(t0);
        } else errors++;
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1_000;
  agent.destroy();
  return { latencies, sentAt, errors, statuses, elapsedS };
}

/** One answer: the HTTP status ("network-error" when there was none) and the body. */
export interface Reply {
  status: string;
  body: string;
}

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string;
  /** Gives up (a "network-error" reply) when no answer has come by then. */
  timeoutMs: number;
}

/** One request, read to its end; never rejects: a failure is a reply too, as the benches count it. */
export function send(
  agent: Agent,
  url: string,
  { method = "GET", headers = {}, body, timeoutMs }: SendOptions,
): Promise<Reply> {
  return new Promise((resolve) => {
    const length = body === undefined ? {} : { "content-length": Buffer.byteLength(body) };
    const req = request(url, { agent, method, headers: { ...headers, ...length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: String(res.statusCode ?? 0), body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", (err) => resolve({ status: "network-error", body: err.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (err) => resolve({ status: "network-error", body: err.message }));
    req.end(body);
  });
}
