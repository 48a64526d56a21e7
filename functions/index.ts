import { newApp } from "./app.ts";

export { Breaker } from "./resilience/breaker/object.ts";
export { Coalescer } from "./resilience/coalescer/object.ts";
export { RateLimiter } from "./resilience/rate-limiter/object.ts";

const app = newApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
