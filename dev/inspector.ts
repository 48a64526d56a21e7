/**
 * A minimal Chrome DevTools Protocol client for workerd's inspector (wrangler dev's, or a
 * Miniflare's `inspectorPort`): dev/profile.ts profiles through it, the soak reads the heap with it.
 */
import { createRequire } from "node:module";
import type { WebSocket as WsSocket } from "ws";

// Node's resolver, not a bundler's: the same reason as in dev/bridge.ts.
const { WebSocket } = createRequire(import.meta.url)("ws") as typeof import("ws");

interface Target {
  id: string;
  webSocketDebuggerUrl: string;
}

/** A minimal DevTools Protocol session: numbered requests, and listeners for events. */
export class Inspector {
  readonly #ws: WsSocket;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Map<string, (params: unknown) => void>();
  #next = 1;

  private constructor(ws: WsSocket) {
    this.#ws = ws;
    ws.on("message", (data: Buffer) => {
      const msg = JSON.parse(data.toString("utf8")) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
        params?: unknown;
      };
      if (msg.id !== undefined) {
        const pending = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) pending?.reject(new Error(msg.error.message));
        else pending?.resolve(msg.result);
      } else if (msg.method) {
        this.#listeners.get(msg.method)?.(msg.params);
      }
    });
  }

  /**
   * The first Worker the inspector lists (wrangler dev's), or the one whose id is `targetId`: a
   * Miniflare lists its own service Workers too (`core:user:<name>` is the user's).
   */
  static async connect(address: string, targetId?: string): Promise<Inspector> {
    const res = await fetch(`http://${address}/json`).catch(() => undefined);
    if (!res?.ok)
      throw new Error(`no inspector at ${address}: is \`npm run dev\` running? (wrangler dev's is on 9229)`);
    const targets = (await res.json()) as Target[];
    const target = targetId === undefined ? targets[0] : targets.find((t) => t.id === targetId);
    if (!target) throw new Error(`the inspector at ${address} lists no Worker yet`);
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new Inspector(ws);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    this.#pending.set(id, { resolve, reject });
    this.#ws.send(JSON.stringify({ id, method, params }));
    return promise as Promise<T>;
  }

  on(method: string, listener: (params: unknown) => void): void {
    this.#listeners.set(method, listener);
  }

  close(): void {
    this.#ws.close();
  }
}

export async function heapSnapshot(inspector: Inspector): Promise<string> {
  const chunks: string[] = [];
  inspector.on("HeapProfiler.addHeapSnapshotChunk", (params) => chunks.push((params as { chunk: string }).chunk));
  await inspector.send("HeapProfiler.enable");
  // V8 collects garbage before it snapshots, so the file shows what is retained. (An explicit
  // HeapProfiler.collectGarbage gets no answer through wrangler's inspector proxy.)
  await inspector.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  return chunks.join("");
}

/** Total self size of a snapshot's nodes: what the isolate retains. */
export function retainedBytes(snapshot: string): number {
  const parsed = JSON.parse(snapshot) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = parsed.snapshot.meta.node_fields;
  const selfSize = fields.indexOf("self_size");
  let total = 0;
  for (let i = selfSize; i < parsed.nodes.length; i += fields.length) total += parsed.nodes[i]!;
  return total;
}
