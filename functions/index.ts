import { newApp } from "./app.ts";

export { Breaker } from "./resilience/breaker-object.ts";
export { Coalescer } from "./resilience/coalescer.ts";
export { RateLimiter } from "./security/rate-limiter.ts";

const app = newApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
