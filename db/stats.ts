import { track } from "../core/inflight.ts";

/**
 * What one request's database work cost: Go's sql.DBStats, per request. Plain data, so the
 * Server-Timing header shows it today and the metrics layer can export it later.
 */
export interface DbStats {
  /** Application statements sent, on either path (BEGIN, SET LOCAL and COMMIT are not counted). */
  queries: number;
  /** WebSocket connections opened: each is a Postgres startup, and a new backend unless pooled server-side. */
  connectionsOpened: number;
  /** Milliseconds spent opening them (concurrent opens each count in full). */
  connectMs: number;
  /** Times a statement found all DB_POOL_MAX connections busy and queued for one (Go's WaitCount). */
  waits: number;
  /** Milliseconds spent queued (Go's WaitDuration). */
  waitMs: number;
  /**
   * Round trips to the database on either path: each HTTP request, and each exchange on an open
   * WebSocket connection (BEGIN, every statement, COMMIT). Opening a connection costs more (see
   * connectionsOpened) and is not counted here.
   */
  roundTrips: number;
  /** Requests over the HTTP path: each one statement or one batch. */
  httpRoundTrips: number;
  /** Milliseconds spent in them, connection setup included. */
  httpMs: number;
  /** Most connections held at once: open WebSockets plus HTTP requests in flight. */
  peakConnections: number;
}

/** The mutable side of DbStats, fed by both paths of one RequestDb. */
export class DbStatsRecorder {
  readonly #stats: DbStats = {
    queries: 0,
    connectionsOpened: 0,
    connectMs: 0,
    waits: 0,
    waitMs: 0,
    roundTrips: 0,
    httpRoundTrips: 0,
    httpMs: 0,
    peakConnections: 0,
  };
  #open = 0;
  /** One entry per held socket in the isolate's in-flight list (they are interchangeable). */
  readonly #untrack: Array<() => void> = [];
  /** Statements sent, by SQL text (parameterised, so one text is one shape): the N+1 detector's input. */
  readonly #shapes = new Map<string, number>();

  snapshot(): DbStats {
    return { ...this.#stats };
  }

  get queries(): number {
    return this.#stats.queries;
  }

  statements(count: number): void {
    this.#stats.queries += count;
  }

  /** One statement's SQL text (without parameters), when the caller knows it. */
  shape(sql: string): void {
    this.#shapes.set(sql, (this.#shapes.get(sql) ?? 0) + 1);
  }

  /** SQL shapes sent at least `times` times by this request: a loop where one query was due. */
  repeated(times: number): Array<{ sql: string; count: number }> {
    return [...this.#shapes].filter(([, count]) => count >= times).map(([sql, count]) => ({ sql, count }));
  }

  connected(ms: number): void {
    this.#stats.connectionsOpened++;
    this.#stats.connectMs += ms;
  }

  waited(ms: number): void {
    this.#stats.waits++;
    this.#stats.waitMs += ms;
  }

  /** One exchange on an open WebSocket connection. */
  wsRoundTrip(): void {
    this.#stats.roundTrips++;
  }

  httpRoundTrip(ms: number): void {
    this.#stats.roundTrips++;
    this.#stats.httpRoundTrips++;
    this.#stats.httpMs += ms;
  }

  /** A socket (WebSocket or HTTP request) is now held. */
  held(): void {
    this.#untrack.push(track("db-connection", "postgres"));
    this.#open++;
    if (this.#open > this.#stats.peakConnections) this.#stats.peakConnections = this.#open;
  }

  released(): void {
    this.#untrack.pop()?.();
    this.#open--;
  }
}
