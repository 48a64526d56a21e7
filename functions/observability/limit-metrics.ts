import { Counter } from "../../core/telemetry/registry.ts";
import { registry } from "./metrics.ts";

const SCOPE = "(this isolate since it started; each Worker isolate counts on its own)";

/** The abuse limits' counters, registered in the one /metrics registry. */
export const limitMetrics = {
  shed: registry.register(new Counter("requests_shed_total", `Requests answered 503 because MAX_INFLIGHT_REQUESTS were in flight ${SCOPE}`)),
  rateLimit: registry.register(
    new Counter(
      "ratelimit_decisions_total",
      `Rate limit checks by outcome: allowed, limited, failed-open (the limiter did not answer in time or failed) ${SCOPE}`,
    ),
  ),
};
