/**
 * The incident lab's Worker: clinic-edge's whole app plus the lab's "bad" routes under /__lab/
 * (./routes.ts), admins only. `npm run lab` bundles this entry for its own workerd; wrangler.toml's
 * `main` (functions/index.ts) never reaches it, so no production configuration can turn a bad
 * pattern on.
 */
import { POLICY } from "../../functions/auth/policy.ts";
import { newApp } from "../../functions/app.ts";
import { labRoutes } from "./routes.ts";

export { Breaker } from "../../functions/resilience/breaker/object.ts";
export { Coalescer } from "../../functions/resilience/coalescer/object.ts";
export { RateLimiter } from "../../functions/resilience/rate-limiter/object.ts";

/** The lab's routes, keyed as THE policy keys operations. */
export const LAB_POLICY = {
  "GET /__lab/doctors-with-appointments": { allow: ["admin"] },
  "GET /__lab/remember": { allow: ["admin"] },
  "GET /__lab/hold-lock": { allow: ["admin"] },
  "GET /__lab/eligibility-unguarded": { allow: ["admin"] },
  "GET /__lab/availability-direct": { allow: ["admin"] },
} as const;

const app = newApp({ policy: { ...POLICY, ...LAB_POLICY } });
app.route("/__lab", labRoutes);

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
