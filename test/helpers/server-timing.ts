/** The database figures a response reports in Server-Timing (functions/middleware/database.ts). */
export interface DbTiming {
  queries: number;
  /** Round trips to the database on both paths (HTTP requests, exchanges on WebSocket connections). */
  totalRoundTrips: number;
  opened: number;
  peak: number;
  connectMs: number;
  waits: number;
  waitMs: number;
  /** Of which over the HTTP path. */
  roundTrips: number;
  httpMs: number;
}

function metric(header: string, name: string): { dur: number; desc: Record<string, number> } | undefined {
  const m = new RegExp(`(?:^|,\\s*)${name};(?:dur=([\\d.]+);)?desc="([^"]*)"`).exec(header);
  if (!m) return undefined;
  const desc: Record<string, number> = {};
  for (const pair of (m[2] ?? "").split(" ")) {
    const [key = "", value = ""] = pair.split("=");
    desc[key] = Number(value);
  }
  return { dur: Number(m[1] ?? 0), desc };
}

/** Undefined when the response used no database. */
export function dbTimingOf(res: Response): DbTiming | undefined {
  const header = res.headers.get("server-timing") ?? "";
  const db = metric(header, "db");
  const conn = metric(header, "db-conn");
  const wait = metric(header, "db-wait");
  const http = metric(header, "db-http");
  const rt = metric(header, "db-rt");
  if (!db || !conn || !wait || !http || !rt) return undefined;
  return {
    queries: db.desc.queries ?? Number.NaN,
    totalRoundTrips: rt.desc["round-trips"] ?? Number.NaN,
    opened: conn.desc.opened ?? Number.NaN,
    peak: conn.desc.peak ?? Number.NaN,
    connectMs: conn.dur,
    waits: wait.desc.waits ?? Number.NaN,
    waitMs: wait.dur,
    roundTrips: http.desc["round-trips"] ?? Number.NaN,
    httpMs: http.dur,
  };
}
