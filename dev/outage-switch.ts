/**
 * A TCP pass-through in front of Postgres that can be switched off and on: the database "going
 * away" for the fault tests. Down: every open connection is cut and new ones are refused (the
 * listener is closed, so connecting fails at once, as with a stopped server); up: it listens again
 * on the same port. Switched over HTTP (POST /down, POST /up) so tests running in workerd can use it.
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface OutageSwitch {
  /** host:port that reaches Postgres while the switch is up. */
  address: string;
  /** Base URL of the control endpoint. */
  controlUrl: string;
  close(): Promise<void>;
}

export async function startOutageSwitch(target: { host: string; port: number }): Promise<OutageSwitch> {
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((client) => {
    const upstream = connect(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      proxy.once("error", reject);
      proxy.listen(port, "127.0.0.1", () => {
        proxy.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const { port } = proxy.address() as AddressInfo;
  let down = false;

  const control: HttpServer = createHttpServer((req, res) => {
    void (async () => {
      if (req.method === "POST" && req.url === "/down" && !down) {
        down = true;
        await new Promise<void>((resolve) => {
          proxy.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
      } else if (req.method === "POST" && req.url === "/up" && down) {
        await listen(port);
        down = false;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ down }));
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", () => resolve()));
  const controlPort = (control.address() as AddressInfo).port;

  return {
    address: `127.0.0.1:${port}`,
    controlUrl: `http://127.0.0.1:${controlPort}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => control.close(() => resolve()));
      if (!down) await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
