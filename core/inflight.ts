/**
 * The goroutine-leak equivalent: everything this isolate has started and not finished, by kind,
 * with when it started. A request, a database connection, an outbound call, a wait on a Durable
 * Object (Coalescer: do-wait; the breakers' object: breaker-hop) or a waitUntil task that never ends shows up here (and in the `inflight` gauge) instead
 * of silently holding memory or a socket.
 */
export type InflightKind = "request" | "db-connection" | "upstream" | "do-wait" | "breaker-hop" | "background";

export interface InflightItem {
  kind: InflightKind;
  label: string;
  startedAt: number;
}

const items = new Set<InflightItem>();

/** Marks work as started; call the returned function exactly once when it ends, however it ends. */
export function track(kind: InflightKind, label: string): () => void {
  const item: InflightItem = { kind, label, startedAt: Date.now() };
  items.add(item);
  return () => {
    items.delete(item);
  };
}

/** Work in flight right now, oldest first. */
export function inflight(): InflightItem[] {
  return [...items].sort((a, b) => a.startedAt - b.startedAt);
}

export function countsByKind(): Record<InflightKind, number> {
  const counts: Record<InflightKind, number> = {
    request: 0,
    "db-connection": 0,
    upstream: 0,
    "do-wait": 0,
    "breaker-hop": 0,
    background: 0,
  };
  for (const item of items) counts[item.kind]++;
  return counts;
}
