/**
 * The local database stand-ins refuse web pages: anything open in the developer's browser during
 * `npm run dev` can reach loopback, but only a browser sends `Origin`.
 */
import { createServer, type Server } from "node:net";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type Bridge } from "../../dev/bridge.ts";
import { startSqlEndpoint, type SqlEndpoint } from "../../dev/sql-endpoint.ts";

/** The status of a WebSocket upgrade request to the bridge (101 when accepted). */
function upgradeStatus(port: number, target: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: `/v2?address=${encodeURIComponent(target)}`,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64"),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the local database stand-ins and web pages", () => {
  let tcp: Server;
  let target: string;
  let bridge: Bridge;
  let endpoint: SqlEndpoint;

  beforeAll(async () => {
    // Something for the bridge to connect to; what it is does not matter here.
    tcp = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    target = `127.0.0.1:${(tcp.address() as AddressInfo).port}`;
    bridge = await startBridge({ allowedTargets: [target] });
    endpoint = await startSqlEndpoint({ databaseUrl: `postgres://nobody@${target}/none` });
  });

  afterAll(async () => {
    await bridge.close();
    await endpoint.close();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });

  it("the WebSocket bridge accepts the Worker's upgrade, which carries no Origin", async () => {
    expect(await upgradeStatus(bridge.port, target)).toBe(101);
  });

  it("the WebSocket bridge refuses an upgrade from a web page (any Origin)", async () => {
    expect(await upgradeStatus(bridge.port, target, { origin: "https://example.com" })).toBe(403);
    expect(await upgradeStatus(bridge.port, target, { origin: "null" })).toBe(403);
  });

  it("the /sql endpoint refuses a web page's POST before reading it", async () => {
    const res = await fetch(endpoint.url, {
      method: "POST",
      headers: { origin: "https://example.com", "content-type": "text/plain" },
      body: JSON.stringify({ query: "select 1", params: [] }),
    });
    expect(res.status).toBe(403);
  });
});
