/**
 * The fleet dashboard's panels as data: a row per concern, each panel its PromQL over the series
 * clinic-edge's isolates push (functions/observability/metrics.ts, summed by the OTLP collector) and
 * postgres_exporter's. The tests check every expression parses (promtool) and names only metrics
 * the code registers, so a renamed metric breaks the build instead of a panel.
 */

/** One line of a panel: a PromQL expression and its legend ({{label}} placeholders). */
export interface Query {
  expr: string;
  legend: string;
}

export interface PanelSpec {
  title: string;
  /** What it shows and what a bad shape means, in one or two sentences (the panel's info tooltip). */
  description: string;
  /** A Grafana unit id: reqps, s, percentunit, short, ops. */
  unit: string;
  queries: Query[];
}

export interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

/** Grafana's rate window: at least four scrapes, whatever the zoom. */
const W = "$__rate_interval";

export const ROWS: RowSpec[] = [
  {
    title: "Requests",
    panels: [
      {
        title: "Request rate by route",
        description: "Requests answered per second, by route template and method.",
        unit: "reqps",
        queries: [{ expr: `sum by (route, method) (rate(http_requests_total[${W}]))`, legend: "{{method}} {{route}}" }],
      },
      {
        title: "Errors by status",
        description:
          "4xx and 5xx answers per second. 503 is shedding or a dependency down, 504 a deadline: both deliberate; 500 and 502 are the bugs (the ServerErrors alert).",
        unit: "reqps",
        queries: [
          { expr: `sum by (status) (rate(http_requests_total{status=~"[45].."}[${W}]))`, legend: "{{status}}" },
        ],
      },
      {
        title: "Unexpected 5xx ratio",
        description:
          "Share of requests answered 500 or 502 (503 and 504 excluded): what ServerErrors alerts on above 5%.",
        unit: "percentunit",
        queries: [
          {
            expr: `sum(rate(http_requests_total{status=~"5..", status!~"503|504"}[${W}])) / sum(rate(http_requests_total[${W}]))`,
            legend: "unexpected 5xx",
          },
        ],
      },
      {
        title: "Latency p50 / p99 by route",
        description:
          "Time to the response. A p99 far above p50 on one route: find its slowest trace (the slow-request runbook).",
        unit: "s",
        queries: [
          {
            expr: `histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket[${W}])))`,
            legend: "p99 {{route}}",
          },
          {
            expr: `histogram_quantile(0.5, sum by (route, le) (rate(http_request_duration_seconds_bucket[${W}])))`,
            legend: "p50 {{route}}",
          },
        ],
      },
      {
        title: "In flight",
        description:
          "Requests being handled and every kind of tracked work. Each should return to zero when traffic stops; one that climbs is work without a deadline (RequestsPilingUp).",
        unit: "short",
        queries: [
          { expr: "sum(http_requests_in_flight)", legend: "requests" },
          { expr: "sum by (kind) (inflight)", legend: "{{kind}}" },
        ],
      },
      {
        title: "Background tasks",
        description: "Tasks handed to ctx.waitUntil and not finished (metric and span pushes, cache writes).",
        unit: "short",
        queries: [{ expr: "sum(background_tasks_in_flight)", legend: "background tasks" }],
      },
    ],
  },
  {
    title: "Database",
    panels: [
      {
        title: "Round trips and queries per request",
        description:
          "Mean database round trips and SQL statements per request, by route. A route whose queries grow with its page size has a query in a loop.",
        unit: "short",
        queries: [
          {
            expr: `sum by (route) (rate(db_round_trips_per_request_sum[${W}])) / sum by (route) (rate(db_round_trips_per_request_count[${W}]))`,
            legend: "round trips {{route}}",
          },
          {
            expr: `sum(rate(db_queries_per_request_sum[${W}])) / sum(rate(db_queries_per_request_count[${W}]))`,
            legend: "queries (all routes)",
          },
        ],
      },
      {
        title: "N+1 requests",
        description: "Requests that sent one SQL shape N_PLUS_ONE_THRESHOLD times or more, by route (NPlusOneQueries).",
        unit: "short",
        queries: [{ expr: `sum by (route) (increase(db_n_plus_one_total[${W}]))`, legend: "{{route}}" }],
      },
      {
        title: "Connections opened",
        description:
          "WebSocket connections opened to Postgres per second, and per request: near 0 when reads take the HTTP path.",
        unit: "short",
        queries: [
          { expr: `sum(rate(db_connections_opened_total[${W}]))`, legend: "opened/s" },
          {
            expr: `sum(rate(db_connections_opened_total[${W}])) / sum(rate(http_requests_total[${W}]))`,
            legend: "per request",
          },
          { expr: `sum(rate(db_http_round_trips_total[${W}]))`, legend: "HTTP query path requests/s" },
        ],
      },
      {
        title: "Connection setup",
        description:
          "Mean time to open a Postgres connection, and the most connections one request held at once (p99): more than one is a request holding a connection while it opens another.",
        unit: "short",
        queries: [
          {
            expr: `sum(rate(db_connect_seconds_total[${W}])) / sum(rate(db_connections_opened_total[${W}]))`,
            legend: "seconds per connect",
          },
          {
            expr: `histogram_quantile(0.99, sum by (le) (rate(db_peak_connections_per_request_bucket[${W}])))`,
            legend: "p99 peak connections per request",
          },
        ],
      },
      {
        title: "Pool waits",
        description:
          "Statements that queued for a connection because the pool was at DB_POOL_MAX, and the time spent queued.",
        unit: "short",
        queries: [
          { expr: `sum(rate(db_pool_waits_total[${W}]))`, legend: "waits/s" },
          { expr: `sum(rate(db_pool_wait_seconds_total[${W}]))`, legend: "seconds queued/s" },
        ],
      },
      {
        title: "Postgres backends",
        description: "postgres_exporter's backends against max_connections (PostgresConnectionsNearLimit above 80%).",
        unit: "short",
        queries: [
          { expr: "sum(pg_stat_activity_count)", legend: "backends" },
          { expr: "max(pg_settings_max_connections)", legend: "max_connections" },
        ],
      },
    ],
  },
  {
    title: "Resilience",
    panels: [
      {
        title: "Breaker state",
        description: "1 for the state isolates last saw each breaker in (closed, open, half-open).",
        unit: "short",
        queries: [{ expr: "max by (breaker, state) (breaker_state)", legend: "{{breaker}} {{state}}" }],
      },
      {
        title: "Breaker calls",
        description:
          "Calls let through to the dependency, failures among them, calls refused without a round trip, and decisions taken by the isolate-local fallback. Failures that keep coming while the breaker should be open: UpstreamCallsFailing.",
        unit: "ops",
        queries: [
          { expr: `sum by (breaker) (rate(breaker_calls_total[${W}]))`, legend: "calls {{breaker}}" },
          { expr: `sum by (breaker) (rate(breaker_failures_total[${W}]))`, legend: "failures {{breaker}}" },
          {
            expr: `sum by (breaker) (rate(breaker_short_circuited_total[${W}]))`,
            legend: "short-circuited {{breaker}}",
          },
          { expr: `sum by (breaker) (rate(breaker_fallback_calls_total[${W}]))`, legend: "fallback {{breaker}}" },
        ],
      },
      {
        title: "Breaker object round trips",
        description:
          "Round trips to each breaker's Durable Object and the half-open probes it let through: healthy calls add none, so this stays low unless the state is changing.",
        unit: "ops",
        queries: [
          { expr: `sum by (breaker) (rate(breaker_object_calls_total[${W}]))`, legend: "object calls {{breaker}}" },
          { expr: `sum by (breaker) (rate(breaker_probes_total[${W}]))`, legend: "probes {{breaker}}" },
        ],
      },
      {
        title: "Breaker transitions",
        description: "States entered, as isolates saw them.",
        unit: "short",
        queries: [
          {
            expr: `sum by (breaker, state) (increase(breaker_transitions_total[${W}]))`,
            legend: "{{breaker}} → {{state}}",
          },
        ],
      },
      {
        title: "Coalescer outcomes",
        description:
          "Coalesced reads by outcome: hit, coalesced, load, fallback. Loads making most of them for a hot key is a stampede (CacheStampede).",
        unit: "ops",
        queries: [{ expr: `sum by (outcome) (rate(coalescer_requests_total[${W}]))`, legend: "{{outcome}}" }],
      },
      {
        title: "Durable Object retries",
        description:
          "Calls sent once more on a fresh stub after a retryable failure (an object reset, as every deploy makes), by object and method. Bursts line up with deploys; a retry that fails too shows as a fallback.",
        unit: "ops",
        queries: [
          {
            expr: `sum by (object, method) (rate(durable_object_retries_total[${W}]))`,
            legend: "{{object}}.{{method}}",
          },
        ],
      },
      {
        title: "Deadlines exceeded",
        description:
          "504s by the stage where the budget ran out (db, upstream, coalescer, ...), and 499s: clients that left first.",
        unit: "ops",
        queries: [
          { expr: `sum by (stage) (rate(deadline_exceeded_total[${W}]))`, legend: "504 at {{stage}}" },
          { expr: `sum(rate(client_closed_requests_total[${W}]))`, legend: "499 client closed" },
        ],
      },
    ],
  },
  {
    title: "Abuse limits",
    panels: [
      {
        title: "Rate-limit decisions",
        description:
          "Rate limit checks by outcome: allowed, limited, failed-open (the limiter did not answer in time).",
        unit: "ops",
        queries: [{ expr: `sum by (outcome) (rate(ratelimit_decisions_total[${W}]))`, legend: "{{outcome}}" }],
      },
      {
        title: "Shed load",
        description: "Requests answered 503 because MAX_INFLIGHT_REQUESTS were already in flight.",
        unit: "reqps",
        queries: [{ expr: `sum(rate(requests_shed_total[${W}]))`, legend: "shed" }],
      },
    ],
  },
];
