import type { BatchResponse } from "drizzle-orm/batch";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Deadline } from "../core/deadline.ts";
import { NOOP_SPAN, SpanKind, sqlAttributes, type Span } from "../core/telemetry/tracing.ts";
import { HttpPath, type Statement, type Statements } from "./http.ts";
import type { PreparedStatement } from "./prepared.ts";
import type * as schema from "./schema/index.ts";
import { isInDoubt } from "./errors.ts";
import { DbStatsRecorder, type DbStats } from "./stats.ts";
import { WsPath, type Database, type StatementLogger, type WsOptions } from "./ws.ts";

export type { Database } from "./ws.ts";
export type { DbStats } from "./stats.ts";
export type { Statement, Statements } from "./http.ts";
export { prepared, type Bound, type PreparedStatement } from "./prepared.ts";

/** Where single statements and batches go; interactive transactions always use the WebSocket pool. */
export type QueryPath = "http" | "ws";

/** The WebSocket pool's settings (see WsOptions) plus the choice of path. */
export interface DbOptions extends WsOptions {
  /** Default "http". */
  queryPath?: QueryPath | undefined;
  /** A Neon-compatible /sql endpoint (local development, tests); undefined: Neon's own. */
  httpEndpoint?: string | undefined;
  /** The parent of one span per SQL statement; NOOP_SPAN (the default) when not traced. */
  span?: Span | undefined;
}

/** What query() and batch() hand their builder: the part of Drizzle both paths share. */
export type QueryBuilder = PgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * Drizzle's logger on the WebSocket path: counts statements and, when traced, opens a span per
 * statement. Drizzle only says when a statement starts; statements on one connection run one after
 * another, so a span ends when the next one starts or the transaction ends (it may include a little
 * of the handler's own time between two statements).
 */
class CountingLogger implements StatementLogger {
  readonly #stats: DbStatsRecorder;
  readonly #span: Span;
  #open: Span | undefined;
  constructor(stats: DbStatsRecorder, span: Span) {
    this.#stats = stats;
    this.#span = span;
  }
  logQuery(query: string): void {
    this.#stats.statements(1);
    // Each statement on the connection is sent and awaited on its own: one round trip.
    this.#stats.wsRoundTrip();
    this.#stats.shape(query);
    if (!this.#span.recording) return;
    this.#open?.end();
    this.#open = this.#span.child("db.query", SpanKind.client, { ...sqlAttributes(query), "db.path": "ws" });
  }
  transactionEnded(failed: boolean): void {
    if (failed) this.#open?.fail("transaction failed");
    this.#open?.end();
    this.#open = undefined;
  }
}

/**
 * What query functions need from a database: RequestDb for a request, TransactionDb inside a
 * transaction that a caller already opened (so the same query functions compose into one).
 */
export interface Queries {
  query<S extends Statement>(deadline: Deadline, build: (db: QueryBuilder) => S): Promise<Awaited<S>>;
  batch<T extends Statements>(deadline: Deadline, build: (db: QueryBuilder) => T): Promise<BatchResponse<T>>;
  /** A hot statement of fixed shape (see prepared()), like query() but built once per isolate on the HTTP path. */
  prepared<V extends Record<string, unknown>, R>(
    deadline: Deadline,
    statement: PreparedStatement<V, R>,
    values: V,
  ): Promise<R>;
  run<T>(deadline: Deadline, work: (tx: Database) => Promise<T>): Promise<T>;
}

/**
 * Everything on one open transaction (from RequestDb.run): statements run one after another on its
 * connection, and run() joins it instead of opening another. The enclosing run() holds the deadline.
 */
export class TransactionDb implements Queries {
  readonly #tx: Database;
  constructor(tx: Database) {
    this.#tx = tx;
  }

  async query<S extends Statement>(_deadline: Deadline, build: (db: QueryBuilder) => S): Promise<Awaited<S>> {
    return await build(this.#tx);
  }

  async batch<T extends Statements>(_deadline: Deadline, build: (db: QueryBuilder) => T): Promise<BatchResponse<T>> {
    const results: unknown[] = [];
    for (const statement of build(this.#tx)) results.push(await statement);
    return results as BatchResponse<T>;
  }

  async prepared<V extends Record<string, unknown>, R>(
    _deadline: Deadline,
    statement: PreparedStatement<V, R>,
    values: V,
  ): Promise<R> {
    // Built with the values on this connection: a transaction is not where the saving is.
    return await statement.build(this.#tx, values);
  }

  async run<T>(_deadline: Deadline, work: (tx: Database) => Promise<T>): Promise<T> {
    return work(this.#tx);
  }
}

/**
 * One request's database, with two ways in, chosen per call:
 * - query() and batch(): statements that need no answer from Postgres before the next one is
 *   sent. On the HTTP path (the default) they cost one round trip and no connection setup.
 * - run(): an interactive transaction (read, decide, write) on the WebSocket pool.
 * Handlers never see which path served them. Every call takes the request's Deadline: Drizzle
 * takes no AbortSignal (github.com/drizzle-team/drizzle-orm/issues/1602), so it is enforced around it, on both sides of the wire.
 *
 * The owner ends it with ctx.waitUntil(end()) once the response is on its way.
 */
export class RequestDb implements Queries {
  readonly #stats = new DbStatsRecorder();
  #options: DbOptions | (() => DbOptions);
  #ws: WsPath | undefined;
  #http: HttpPath | undefined;
  #used = false;
  #mayHaveWritten = false;

  /**
   * `options`, or a function that makes them: every request gets a RequestDb and most trivial
   * ones never query, so the options and each path are made on first use.
   */
  constructor(options: DbOptions | (() => DbOptions)) {
    this.#options = options;
  }

  get #resolved(): DbOptions {
    if (typeof this.#options === "function") this.#options = this.#options();
    return this.#options;
  }

  get #wsPath(): WsPath {
    const options = this.#resolved;
    return (this.#ws ??= new WsPath(options, this.#stats, new CountingLogger(this.#stats, options.span ?? NOOP_SPAN)));
  }

  get #httpPath(): HttpPath {
    const options = this.#resolved;
    return (this.#http ??= new HttpPath(options, this.#stats, options.span ?? NOOP_SPAN));
  }

  /** SQL statements this request has sent so far (the N+1 guard's input). */
  get queryCount(): number {
    return this.#stats.queries;
  }

  /** SQL shapes this request sent at least `times` times (see the N+1 detector in middleware/observe.ts). */
  repeatedShapes(times: number): Array<{ sql: string; count: number }> {
    return this.#stats.repeated(times);
  }

  /** What the request's database work has cost so far. */
  get stats(): DbStats {
    return this.#stats.snapshot();
  }

  /** True once any call was made: the response then reports the stats. */
  get used(): boolean {
    return this.#used;
  }

  /**
   * False while nothing this request sent can have changed the database: no round trip has
   * completed and none failed with its answer lost (isInDoubt). A write that then fails may say
   * "not applied" (see writeOutcome in functions/http/errors.ts); reads count too, since a round
   * trip's text does not say whether it writes.
   */
  get mayHaveWritten(): boolean {
    return this.#mayHaveWritten;
  }

  /** True once the WebSocket pool exists (and so must be ended). */
  get opened(): boolean {
    return this.#ws?.opened ?? false;
  }

  /** One statement, e.g. `db.query(deadline, (q) => q.select().from(doctors).where(...))`. */
  async query<S extends Statement>(deadline: Deadline, build: (db: QueryBuilder) => S): Promise<Awaited<S>> {
    const [result] = await this.batch(deadline, (db) => [build(db)] as const);
    return result;
  }

  /**
   * Statements run in order in one transaction, all or nothing; none may depend on another's
   * answer (use run() for that). Results come back in the same order.
   */
  async batch<T extends Statements>(deadline: Deadline, build: (db: QueryBuilder) => T): Promise<BatchResponse<T>> {
    this.#used = true;
    if ((this.#resolved.queryPath ?? "http") === "http") return this.#settled(this.#httpPath.batch(deadline, build));
    return this.#settled(this.#wsPath.transaction(deadline, (tx) => new TransactionDb(tx).batch(deadline, build)));
  }

  async prepared<V extends Record<string, unknown>, R>(
    deadline: Deadline,
    statement: PreparedStatement<V, R>,
    values: V,
  ): Promise<R> {
    this.#used = true;
    if ((this.#resolved.queryPath ?? "http") === "http")
      return this.#settled(this.#httpPath.prepared(deadline, statement, values));
    return this.#settled(
      this.#wsPath.transaction(deadline, (tx) => new TransactionDb(tx).prepared(deadline, statement, values)),
    );
  }

  /** An interactive transaction on the WebSocket pool, bounded by the deadline (see WsPath). */
  async run<T>(deadline: Deadline, work: (tx: Database) => Promise<T>): Promise<T> {
    this.#used = true;
    return this.#settled(this.#wsPath.transaction(deadline, work));
  }

  /** Notes whether the round trip may have changed the database (see mayHaveWritten). */
  async #settled<T>(roundTrip: Promise<T>): Promise<T> {
    try {
      const result = await roundTrip;
      this.#mayHaveWritten = true;
      return result;
    } catch (err) {
      if (isInDoubt(err)) this.#mayHaveWritten = true;
      throw err;
    }
  }

  async end(): Promise<void> {
    await this.#ws?.end();
  }
}
