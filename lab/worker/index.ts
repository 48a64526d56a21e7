/**
 * The incident lab's Worker: clinic-edge's whole app plus the lab's "bad" routes under /__lab/
 * (./routes.ts) and the schema-change incident's next version of the doctors routes under
 * /__lab/v2/ (./next-version.ts), admins only. `npm run lab` bundles this entry for its own workerd; wrangler.toml's
 * `main` (functions/index.ts) never reaches it, so no production configuration can turn a bad
 * pattern on.
 */
import { POLICY } from "../../functions/auth/policy.ts";
import { newApp } from "../../functions/app.ts";
import { nextVersion } from "./next-version.ts";
import { LAB_POLICY } from "./policy.ts";
import { labRoutes } from "./routes.ts";
import { withDeployResets } from "./deploy.ts";

export { Breaker } from "../../functions/resilience/breaker/object.ts";
export { Coalescer } from "../../functions/resilience/coalescer/object.ts";
export { RateLimiter } from "../../functions/resilience/rate-limiter/object.ts";

const app = newApp({ policy: { ...POLICY, ...LAB_POLICY } });
app.route("/__lab", labRoutes);
app.route("/__lab/v2", nextVersion);

export default {
  // A Durable Object reset meets the app as it would after a deploy on the edge (./deploy.ts).
  fetch: (request, env, ctx) => app.fetch(request, withDeployResets(env), ctx),
} satisfies ExportedHandler<Env>;
