import { allBreakerCounters, type BreakerCounters } from "../resilience/breaker/circuit.ts";
import { countsByKind } from "../../core/inflight.ts";
import { Collected, Counter, Gauge, Histogram, Registry, type Labels } from "../../core/telemetry/registry.ts";

/**
 * What one isolate has seen since it started. Workers run many isolates, each with its own memory
 * (and so its own copy of these), created and evicted at the runtime's will: one scrape of /metrics
 * covers the isolate that answered it, not the fleet. docs/operations.md says how to get fleet-wide numbers.
 */
const SCOPE = "(this isolate since it started; each Worker isolate counts on its own)";

export const registry = new Registry();

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One counter family per BreakerCounters field, labelled by breaker name. */
function breakerCounter(field: Exclude<keyof BreakerCounters, "transitions">, name: string, help: string): Collected {
  return new Collected(name, `${help} ${SCOPE}`, "counter", () =>
    [...allBreakerCounters()].map(([breaker, c]) => ({ labels: { breaker }, value: c[field] })),
  );
}

export const metrics = {
  requests: registry.register(
    new Counter("http_requests_total", `Requests answered, by route template, method and status ${SCOPE}`),
  ),
  duration: registry.register(
    new Histogram(
      "http_request_duration_seconds",
      `Time to the response, by route template, method and status ${SCOPE}`,
      LATENCY_BUCKETS,
    ),
  ),
  inFlight: registry.register(new Gauge("http_requests_in_flight", `Requests being handled right now ${SCOPE}`)),
  inflightByKind: registry.register(
    new Collected(
      "inflight",
      `Work started and not finished, by kind (request, db-connection, upstream, do-wait, breaker-hop, background) ${SCOPE}`,
      "gauge",
      () => Object.entries(countsByKind()).map(([kind, value]) => ({ labels: { kind }, value })),
    ),
  ),
  backgroundInFlight: registry.register(
    new Gauge("background_tasks_in_flight", `Tasks handed to ctx.waitUntil not finished yet ${SCOPE}`),
  ),
  queriesPerRequest: registry.register(
    new Histogram("db_queries_per_request", `SQL statements one request sent ${SCOPE}`, [0, 1, 2, 3, 5, 10, 20, 50]),
  ),
  dbConnectionsOpened: registry.register(
    new Counter("db_connections_opened_total", `WebSocket connections opened to Postgres ${SCOPE}`),
  ),
  dbConnectSeconds: registry.register(new Counter("db_connect_seconds_total", `Time spent opening them ${SCOPE}`)),
  dbWaits: registry.register(
    new Counter("db_pool_waits_total", `Statements that queued for a connection (pool at DB_POOL_MAX) ${SCOPE}`),
  ),
  dbWaitSeconds: registry.register(new Counter("db_pool_wait_seconds_total", `Time spent queued ${SCOPE}`)),
  dbHttpRoundTrips: registry.register(
    new Counter("db_http_round_trips_total", `Requests over the HTTP query path ${SCOPE}`),
  ),
  dbRoundTrips: registry.register(
    new Histogram(
      "db_round_trips_per_request",
      `Round trips to the database one request made (HTTP requests and WebSocket exchanges), by route and method ${SCOPE}`,
      [0, 1, 2, 3, 4, 6, 10],
    ),
  ),
  dbPeakConnections: registry.register(
    new Histogram(
      "db_peak_connections_per_request",
      `Most database connections one request held at once ${SCOPE}`,
      [0, 1, 2, 3, 4, 5, 6],
    ),
  ),
  deadlineExceeded: registry.register(
    new Counter("deadline_exceeded_total", `Requests that ran out of budget, by stage ${SCOPE}`),
  ),
  clientClosed: registry.register(
    new Counter("client_closed_requests_total", `Requests whose client disconnected first ${SCOPE}`),
  ),
  nPlusOne: registry.register(
    new Counter(
      "db_n_plus_one_total",
      `Requests that sent one SQL shape N_PLUS_ONE_THRESHOLD times or more, by route ${SCOPE}`,
    ),
  ),
  breakerCalls: registry.register(
    breakerCounter(
      "calls",
      "breaker_calls_total",
      "Calls a circuit breaker let through to its dependency, probes included",
    ),
  ),
  breakerProbes: registry.register(breakerCounter("probes", "breaker_probes_total", "Half-open probes let through")),
  breakerFailures: registry.register(
    breakerCounter("failures", "breaker_failures_total", "Calls that failed (counted against the dependency)"),
  ),
  breakerShortCircuited: registry.register(
    breakerCounter(
      "shortCircuited",
      "breaker_short_circuited_total",
      "Calls refused without a round trip to the dependency",
    ),
  ),
  breakerObjectCalls: registry.register(
    breakerCounter("objectCalls", "breaker_object_calls_total", "Round trips to the breaker's Durable Object"),
  ),
  breakerFallbacks: registry.register(
    breakerCounter(
      "fallbackCalls",
      "breaker_fallback_calls_total",
      "Calls decided by the isolate-local breaker (object unreachable)",
    ),
  ),
  breakerTransitions: registry.register(
    new Collected(
      "breaker_transitions_total",
      `Breaker states entered, as this isolate saw them ${SCOPE}`,
      "counter",
      () =>
        [...allBreakerCounters()].flatMap(([breaker, c]) =>
          Object.entries(c.transitions).map(([state, value]) => ({ labels: { breaker, state }, value })),
        ),
    ),
  ),
  breakerState: registry.register(
    new Gauge("breaker_state", `1 for the state this isolate last saw each breaker in, 0 for the others ${SCOPE}`),
  ),
  coalescer: registry.register(
    new Counter(
      "coalescer_requests_total",
      `Coalesced reads by outcome: hit, coalesced, load, fallback, impossible-id (refused before any work) ${SCOPE}`,
    ),
  ),
  objectRetries: registry.register(
    new Counter(
      "durable_object_retries_total",
      `Durable Object calls sent a second time after a retryable failure (an object reset, as on a deploy), by object and method ${SCOPE}`,
    ),
  ),
  requestsShed: registry.register(
    new Counter("requests_shed_total", `Requests answered 503 because MAX_INFLIGHT_REQUESTS were in flight ${SCOPE}`),
  ),
  rateLimitDecisions: registry.register(
    new Counter(
      "ratelimit_decisions_total",
      `Rate limit checks by outcome: allowed, limited, failed-open (the limiter did not answer in time or failed) ${SCOPE}`,
    ),
  ),
};

/** Methods a client may choose: a bound on the labels interned below. */
const MAX_INTERNED_METHODS = 16;
const interned = new Map<string, Map<string, Map<number, Labels>>>();

/**
 * The `{method, route, status}` labels of http_requests_total and its duration histogram, one frozen
 * object per combination, so the registry builds each series key once rather than per request.
 */
export function requestLabels(method: string, route: string, status: number): Labels {
  let byRoute = interned.get(method);
  if (!byRoute) {
    const fresh = new Map<string, Map<number, Labels>>();
    if (interned.size >= MAX_INTERNED_METHODS) return { method, route, status: String(status) };
    interned.set(method, fresh);
    byRoute = fresh;
  }
  let byStatus = byRoute.get(route);
  if (!byStatus) byRoute.set(route, (byStatus = new Map<number, Labels>()));
  let labels = byStatus.get(status);
  if (!labels) byStatus.set(status, (labels = Object.freeze({ method, route, status: String(status) })));
  return labels;
}
