import { neon, neonConfig, SqlTemplate, type NeonQueryFunction, type NeonQueryPromise } from "@neondatabase/serverless";
import type { BatchItem, BatchResponse } from "drizzle-orm/batch";
import { drizzle, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import type { Deadline } from "../core/deadline.ts";
import { AUDIT_SETTINGS, auditValues, type Audit } from "../core/audit.ts";
import { SpanKind, sqlAttributes, type Span } from "../core/telemetry/tracing.ts";
import { answerLost, isQueryCanceled, markInDoubt } from "./errors.ts";
import { placeholders, type PreparedQuery, type PreparedStatement } from "./prepared.ts";
import * as schema from "./schema/index.ts";
import { Slots } from "./slots.ts";
import type { DbStatsRecorder } from "./stats.ts";

export type HttpDatabase = NeonHttpDatabase<typeof schema>;

/** One Drizzle statement, built but not yet awaited (select, insert…returning, relational query, execute). */
export type Statement = BatchItem<"pg"> & PromiseLike<unknown>;

/** One or more statements sent together. */
export type Statements = readonly [Statement, ...Statement[]];

export interface HttpOptions {
  url: string;
  /** Most HTTP requests in flight at once (DB_POOL_MAX, like the WebSocket pool). */
  poolMax: number;
  /** A Neon-compatible /sql endpoint (the local stand-in); undefined: Neon's own, derived from the host. */
  httpEndpoint?: string | undefined;
  applicationName: string;
  /** Who makes this request's changes, for the history trigger. */
  audit?: Audit | undefined;
}

/** What differs between calls on the shared client: which request, and its deadline. */
interface CallOptions {
  /** DATABASE_URL with the request's application_name. */
  connectionString: string;
  fetchOptions: { signal: AbortSignal };
  /** The request's remaining budget: the round trip's statement_timeout. */
  budgetMs: number;
  /** The values of AUDIT_SETTINGS (core/audit.ts) for this request. */
  audit: string[];
  /**
   * Receives the SQL text of every statement as Drizzle built it for the driver. Read there rather
   * than with toSQL(): building a statement's SQL again cost ~8 % of the Worker's CPU on a
   * one-query route (profiled).
   */
  sending: (texts: readonly string[]) => void;
}

/** The SQL text of a statement handed to the driver (Drizzle passes each as `query(text, params)`). */
function textOf(query: NeonQueryPromise<false, false>): string {
  const data = query.queryData;
  return data instanceof SqlTemplate ? data.toParameterizedQuery().query : data.query;
}

/**
 * Local to the round trip's transaction (Neon runs every batch in one): gone with it. The audit
 * settings ride along for the history trigger, in the same statement.
 */
const PRELUDE = `select set_config('statement_timeout', $1, true), ${AUDIT_SETTINGS.map(
  (name, i) => `set_config('${name}', $${i + 2}, true)`,
).join(", ")}`;

/**
 * One Drizzle instance per isolate. Building one walks the whole schema for the relational API:
 * about a tenth of the Worker's CPU under load when it was done per request (profiled). It holds
 * no I/O object, only functions that call fetch, so requests may share it. What differs per call
 * reaches the driver through batch() and execute(): the driver accepts the connection string and
 * fetch options per call, and Drizzle hands its statements to the driver synchronously (checked),
 * so the options set just before are the ones taken.
 *
 * Every round trip is a transaction that starts with the request's statement_timeout, prepended
 * here: aborting the fetch at the deadline frees the Worker, and this is what stops the statement
 * in Postgres, whatever the proxy does with a client that went away.
 */
class SharedHttpClient {
  readonly db: HttpDatabase;
  #pending: { call: CallOptions; single: boolean } | undefined;
  readonly #prepared = new WeakMap<object, PreparedQuery<unknown>>();

  constructor() {
    const driver = neon({});
    const client: NeonQueryFunction<false, false> = Object.assign(
      (strings: TemplateStringsArray, ...params: unknown[]) => driver(strings, ...params),
      {
        // Drizzle's batch() calls query() for each statement, then transaction() with them all;
        // a prepared query's execute() calls query() alone and only awaits what it returns.
        query: ((text: string, params?: unknown[], opts?: Parameters<typeof driver.query>[2]) => {
          if (!this.#pending?.single) return driver.query(text, params, opts);
          const { budgetMs, audit, sending, ...call } = this.#take();
          sending([text]);
          // Cast: transaction() honours each query's own arrayMode/fullResults (Drizzle's), but its
          // types pin every query to the client's (false, false).
          const query = driver.query(text, params, opts) as NeonQueryPromise<false, false>;
          return driver
            .transaction([driver.query(PRELUDE, [String(budgetMs), ...audit]), query], call)
            .then(([, result]) => result);
        }) as typeof driver.query,
        unsafe: driver.unsafe.bind(driver),
        // Cast: a generic signature cannot be written as an arrow; the call is the driver's own.
        transaction: (async (queries, opts) => {
          const { budgetMs, audit, sending, ...call } = this.#take();
          if (!Array.isArray(queries))
            throw new Error("drizzle-orm passed transaction() a function; only arrays are supported here");
          sending(queries.map(textOf));
          const [, ...results] = await driver.transaction(
            [driver.query(PRELUDE, [String(budgetMs), ...audit]), ...queries],
            { ...opts, ...call },
          );
          return results;
        }) as typeof driver.transaction,
      },
    );
    this.db = drizzle({ client, schema });
  }

  /** Drizzle's batch of built statements, in one round trip. */
  batch<T extends Statements>(call: CallOptions, statements: T): Promise<BatchResponse<T>> {
    return this.#send(call, false, () => this.db.batch(statements));
  }

  /** A prepared statement with its values, in one round trip; its SQL is built on first use only. */
  execute<V extends Record<string, unknown>, R>(
    call: CallOptions,
    statement: PreparedStatement<V, R>,
    values: V,
  ): Promise<R> {
    let query = this.#prepared.get(statement) as PreparedQuery<R> | undefined;
    if (!query) {
      query = statement.build(this.db, placeholders(statement.keys)).prepare(statement.name);
      this.#prepared.set(statement, query);
    }
    const ready = query;
    return this.#send(call, true, () => ready.execute(values));
  }

  #send<T>(call: CallOptions, single: boolean, send: () => Promise<T>): Promise<T> {
    this.#pending = { call, single };
    try {
      const sent = send();
      if (this.#pending === undefined) return sent;
      // Checked, not assumed: a Drizzle that awaited first would send with another call's options.
      sent.catch(() => {});
      throw new Error("drizzle-orm did not send the query synchronously; per-call options were not applied");
    } finally {
      this.#pending = undefined;
    }
  }

  #take(): CallOptions {
    const pending = this.#pending;
    if (!pending) throw new Error("an HTTP query was sent outside SharedHttpClient.batch() or execute()");
    this.#pending = undefined;
    return pending.call;
  }
}

let shared: SharedHttpClient | undefined;

/**
 * The HTTP path: Neon's `/sql` endpoint answers each request with one round trip on a connection
 * it keeps warm, so a request pays no WebSocket, no startup and no new backend. Good for single
 * statements and non-interactive batches; a transaction whose next statement depends on the
 * previous one's answer belongs on the WebSocket path.
 */
export class HttpPath {
  readonly #options: HttpOptions;
  readonly #stats: DbStatsRecorder;
  readonly #slots: Slots;
  readonly #span: Span;
  #connectionString: string | undefined;
  #audit: string[] | undefined;

  constructor(options: HttpOptions, stats: DbStatsRecorder, span: Span) {
    this.#options = options;
    this.#stats = stats;
    this.#span = span;
    this.#slots = new Slots(options.poolMax);
  }

  async batch<T extends Statements>(deadline: Deadline, build: (db: HttpDatabase) => T): Promise<BatchResponse<T>> {
    deadline.check("db");
    const client = (shared ??= new SharedHttpClient());
    const statements = build(client.db);
    return this.#roundTrip(deadline, (call) => client.batch(call, statements));
  }

  async prepared<V extends Record<string, unknown>, R>(
    deadline: Deadline,
    statement: PreparedStatement<V, R>,
    values: V,
  ): Promise<R> {
    deadline.check("db");
    const client = (shared ??= new SharedHttpClient());
    return this.#roundTrip(deadline, (call) => client.execute(call, statement, values));
  }

  /** One request to the endpoint: a slot under DB_POOL_MAX, stats, a span per statement, the deadline. */
  async #roundTrip<T>(deadline: Deadline, send: (call: CallOptions) => Promise<T>): Promise<T> {
    await this.#slot(deadline);
    this.#stats.held();
    const started = performance.now();
    // One span per statement; they share the round trip, so they share its start and end.
    const spans: Span[] = [];
    try {
      // A module-wide setting, read synchronously when the request is built below.
      if (this.#options.httpEndpoint) neonConfig.fetchEndpoint = this.#options.httpEndpoint;
      const call: CallOptions = {
        connectionString: this.#connection(),
        fetchOptions: { signal: deadline.signal },
        budgetMs: Math.max(1, Math.floor(deadline.remaining())),
        audit: (this.#audit ??= auditValues(this.#options.audit)),
        sending: (texts) => {
          this.#stats.statements(texts.length);
          for (const text of texts) {
            this.#stats.shape(text);
            if (this.#span.recording)
              spans.push(this.#span.child("db.query", SpanKind.client, { ...sqlAttributes(text), "db.path": "http" }));
          }
        },
      };
      // No deadline.race() here: the fetch carries the deadline's signal, so the round trip (body
      // included) rejects when it fires; racing it as well cost ~2 % of the route's CPU (profiled).
      return await send(call);
    } catch (err) {
      // The abort surfaces as the driver's connection error or a bare AbortError; the statement
      // timeout as 57014. Either way the caller gets the deadline's own error.
      const aborted = deadline.signal.aborted;
      const thrown = aborted || isQueryCanceled(err) ? deadline.error("db") : err;
      // The endpoint runs the round trip as one transaction: an answer lost on the way back may
      // have been a COMMIT's.
      if (answerLost(err, aborted)) markInDoubt(thrown);
      for (const span of spans) span.fail(thrown instanceof Error ? thrown.name : "error");
      throw thrown;
    } finally {
      for (const span of spans) span.end();
      this.#stats.httpRoundTrip(performance.now() - started);
      this.#stats.released();
      this.#slots.release();
    }
  }

  async #slot(deadline: Deadline): Promise<void> {
    if (!this.#slots.full) return this.#slots.acquire(deadline);
    const started = performance.now();
    try {
      await this.#slots.acquire(deadline);
    } finally {
      this.#stats.waited(performance.now() - started);
    }
  }

  #connection(): string {
    this.#connectionString ??= connectionPrefix(this.#options.url) + encodeURIComponent(this.#options.applicationName);
    return this.#connectionString;
  }
}

const prefixes = new Map<string, string>();

/**
 * DATABASE_URL ready for `application_name=` to be appended: parsed once per isolate, since a URL
 * per request showed in the profile (the driver parses the result again anyway).
 */
function connectionPrefix(url: string): string {
  let prefix = prefixes.get(url);
  if (prefix === undefined) {
    const u = new URL(url);
    u.searchParams.delete("application_name");
    u.searchParams.set("application_name", "");
    prefix = u.toString();
    prefixes.set(url, prefix);
  }
  return prefix;
}
