/**
 * Connection storm: 24 concurrent callers against a Postgres with max_connections=12. On the
 * WebSocket path (DB_QUERY_PATH=ws) each request opens its own connection: the backends reach the
 * limit and connections are refused. On the HTTP path the /sql endpoint's small pool (5) serves
 * them all. This incident runs on an embedded server of its own (also when DATABASE_URL is set:
 * a shared server's max_connections is not the lab's to lower).
 */
import { embeddedDatabase, localServices } from "../../bench/lib/stack.ts";
import { seedIfEmpty } from "../../dev/seed.ts";
import { peak, total, type Incident, type VariantSpec } from "../incident.ts";
import { closeTarget, dbTarget } from "../stack.ts";

const MAX_CONNECTIONS = 12;
const SQL_POOL = 5;
const CONCURRENCY = 24;

function variant(name: string, kind: "bad" | "good", path: "ws" | "http"): VariantSpec {
  return {
    name,
    kind,
    bindings: { DB_QUERY_PATH: path },
    load: (ctx) =>
      ctx.recorder.closedLoop(
        () => ({ url: `${ctx.worker.base}/doctors?limit=5`, headers: ctx.headers }),
        CONCURRENCY,
        ctx.seconds,
      ),
  };
}

export const connectionStorm: Incident = {
  id: "connection-storm",
  title: "Connection storm",
  what: `A connection per request at ${CONCURRENCY} concurrent callers exhausts a Postgres with max_connections=${MAX_CONNECTIONS}; the HTTP query path shares a small pool and never comes near it.`,
  alerts: ["PostgresConnectionsNearLimit"],
  setup: async () => {
    const db = await embeddedDatabase("lab-storm", { maxConnections: MAX_CONNECTIONS });
    const closers: Array<() => Promise<void>> = [() => db.drop()];
    const close = async (): Promise<void> => {
      for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
    };
    try {
      await seedIfEmpty(db.url);
      const services = await localServices(db.url, { sqlIdleTimeoutMs: 100, sqlPool: SQL_POOL });
      closers.push(() => services.close());
      const target = await dbTarget(db.url, services.bindings);
      closers.push(() => closeTarget(target));
      return { target, close };
    } catch (err) {
      await close();
      throw err;
    }
  },
  variants: [
    variant("bad: a connection per request", "bad", "ws"),
    variant("good: the HTTP query path", "good", "http"),
  ],
  checks: ([bad, good]) => [
    {
      name: `backends: near max_connections (${MAX_CONNECTIONS}) on the WebSocket path, at most the pool on the HTTP path`,
      passed: peak(bad, "pg_backends") >= MAX_CONNECTIONS - 4 && peak(good, "pg_backends") <= SQL_POOL + 1,
      detail: `peak bad ${peak(bad, "pg_backends")}, good ${peak(good, "pg_backends")}`,
    },
    {
      name: "connections refused (503) on the WebSocket path, none on the HTTP path",
      passed: total(bad, "errors_5xx") > 0 && total(good, "errors_5xx") === 0,
      detail: `bad ${total(bad, "errors_5xx")}, good ${total(good, "errors_5xx")}`,
    },
  ],
};
