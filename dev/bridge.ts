/**
 * WebSocket -> TCP bridge: lets the Neon serverless driver (which only speaks Postgres over
 * WebSocket) reach a plain Postgres, the way Neon's own proxy does in production.
 *
 * What a naive proxy gets wrong, and this one does not:
 * - The driver does not close its WebSocket after sending Terminate ('X'); its end() waits for the
 *   other side to. So the bridge watches the frontend message stream and, on Terminate, ends the
 *   TCP side and closes the WebSocket itself; otherwise every request leaks a backend and every
 *   pool.end() hangs. (workerd reports that server-side close to the driver as a "Network
 *   connection lost" error event; db/client.ts listens for it so it is not an uncaught exception.)
 * - It is not an open proxy: only the configured Postgres address may be dialled.
 *
 * It also keeps per-application_name counters (connections, statements, terminations, round trips),
 * served as JSON on GET /stats, so tests can see what really crossed the wire for one request.
 *
 * With `rttMs` (DEV_DB_RTT_MS) it models a database that far away: the upgrade waits one round
 * trip, and every message waits half of one on its way in and half on its way out (dev/latency.ts).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import type { WebSocket } from "ws";
import { StatsByApp } from "./app-stats.ts";
import { fromBrowser } from "./browser-guard.ts";
import { DelayLine, delay } from "./latency.ts";

// Loaded through Node's own resolver: under vitest's globalSetup the project's Workers resolve
// conditions would otherwise pick ws's browser stub, which has no server.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as typeof import("ws");

export interface BridgeOptions {
  /** host:port addresses the bridge may connect to (the local Postgres). */
  allowedTargets: string[];
  host?: string;
  port?: number;
  /** How many application names to keep counters for (oldest dropped first). */
  maxTrackedApps?: number;
  /** Simulated round-trip time to the database, in ms (default 0). */
  rttMs?: number;
}

export interface AppStats {
  connections: number;
  open: number;
  /** Most connections open at once. */
  peakOpen: number;
  terminated: number;
  /** Simple-protocol Query messages (transaction control, multi-statement strings). */
  simpleQueries: number;
  /** Extended-protocol Execute messages: one per parameterised statement (what Drizzle sends). */
  executes: number;
  /**
   * Exchanges after startup: each Query or Sync is one message the client waits on (a statement,
   * or a pipeline of them ending in Sync), so each is one round trip to the database.
   */
  roundTrips: number;
}

const EMPTY: AppStats = {
  connections: 0,
  open: 0,
  peakOpen: 0,
  terminated: 0,
  simpleQueries: 0,
  executes: 0,
  roundTrips: 0,
};

export interface Bridge {
  /** host:port, the value for DB_WS_PROXY. */
  address: string;
  port: number;
  stats(applicationName: string): AppStats | undefined;
  close(): Promise<void>;
}

const PROTOCOL_V3 = 196608;

/** Incremental parser of the frontend (client -> server) side of the Postgres protocol. */
class FrontendStream {
  #buffer: Buffer = Buffer.alloc(0);
  #startupDone = false;
  applicationName = "";

  /** Feeds bytes; calls onMessage with each complete message's type ('' for startup-phase ones). */
  push(chunk: Buffer, onMessage: (type: string) => void): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      if (!this.#startupDone) {
        if (this.#buffer.length < 8) return;
        const length = this.#buffer.readInt32BE(0);
        if (this.#buffer.length < length) return;
        const code = this.#buffer.readInt32BE(4);
        if (code === PROTOCOL_V3) {
          this.applicationName = startupParameter(this.#buffer.subarray(8, length), "application_name");
          this.#startupDone = true;
        }
        // SSLRequest / GSSENCRequest precede the real startup message; keep looking for it.
        this.#buffer = this.#buffer.subarray(length);
        onMessage("");
        continue;
      }
      if (this.#buffer.length < 5) return;
      const length = this.#buffer.readInt32BE(1);
      if (this.#buffer.length < 1 + length) return;
      const type = String.fromCharCode(this.#buffer[0]!);
      this.#buffer = this.#buffer.subarray(1 + length);
      onMessage(type);
    }
  }
}

function startupParameter(params: Buffer, name: string): string {
  const parts = params.toString("utf8").split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i] === name) return parts[i + 1] ?? "";
  return "";
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const allowed = new Set(options.allowedTargets);
  const rttMs = options.rttMs ?? 0;
  const apps = new StatsByApp<AppStats>(EMPTY, options.maxTrackedApps);
  const sockets = new Set<Socket>();

  const http: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://bridge");
    if (req.method === "GET" && url.pathname === "/stats") {
      const name = url.searchParams.get("application_name") ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(apps.snapshot(name)));
      return;
    }
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade expected on /v2\n");
  });

  const wss = new WebSocketServer({ noServer: true });
  http.on("upgrade", (req: IncomingMessage, socket, head) => {
    const url = new URL(req.url ?? "/", "http://bridge");
    const target = url.searchParams.get("address") ?? "";
    if (url.pathname !== "/v2" || !allowed.has(target) || fromBrowser(req)) {
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    // The handshake is an exchange of its own (TCP and TLS add more in production).
    void delay(rttMs).then(() => wss.handleUpgrade(req, socket, head, (ws) => pipe(ws, target)));
  });

  function pipe(ws: WebSocket, target: string): void {
    const sep = target.lastIndexOf(":");
    const tcp = connect({ host: target.slice(0, sep), port: Number(target.slice(sep + 1)) });
    tcp.setNoDelay(true);
    sockets.add(tcp);
    const frontend = new FrontendStream();
    let app: AppStats | undefined;
    let terminated = false;

    const onClientBytes = (data: Buffer): void => {
      frontend.push(data, (type) => {
        if (type === "" && !app && frontend.applicationName !== "") {
          app = apps.for(frontend.applicationName);
          app.connections++;
          app.open++;
          app.peakOpen = Math.max(app.peakOpen, app.open);
        }
        if (app && type === "Q") app.simpleQueries++;
        if (app && type === "E") app.executes++;
        if (app && (type === "Q" || type === "S")) app.roundTrips++;
        if (type === "X") terminated = true;
      });
      // net.Socket buffers writes (and the end) until the connection is up.
      tcp.write(data);
      if (terminated && !tcp.writableEnded) {
        if (app) app.terminated++;
        tcp.end();
        ws.close(1000);
      }
    };

    // Each direction is a wire half a round trip long; a close travels behind the bytes before it.
    const toClient = new DelayLine<Buffer | "close">(rttMs / 2, (item) => {
      if (item === "close") closeBoth();
      else if (ws.readyState === ws.OPEN) ws.send(item);
    });
    const toServer = new DelayLine<Buffer | "end">(rttMs / 2, (item) => {
      if (item !== "end") onClientBytes(item);
      else if (!tcp.destroyed) tcp.end();
    });
    tcp.on("data", (data) => toClient.push(data));
    const closeBoth = (): void => {
      toServer.clear();
      if (!tcp.destroyed) tcp.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    };
    tcp.on("close", () => {
      sockets.delete(tcp);
      if (app) {
        app.open--;
        app = undefined;
      }
      toClient.push("close");
    });
    tcp.on("error", () => toClient.push("close"));
    ws.on("message", (data, isBinary) => {
      if (!isBinary && typeof data === "string") return;
      toServer.push(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    ws.on("close", () => {
      // A WebSocket that went away without Terminate still ends its backend.
      toServer.push("end");
    });
    ws.on("error", () => {
      toClient.clear();
      closeBoth();
    });
  }

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const host = options.host ?? "127.0.0.1";

  return {
    address: `${host}:${port}`,
    port,
    stats: (name) => apps.get(name),
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
