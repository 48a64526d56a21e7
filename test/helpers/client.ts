import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { createApiClient, type ApiClient } from "../../client/index.ts";
import { ORIGIN } from "./api.ts";
import { ADMIN, authHeader, type Caller } from "./auth.ts";

/**
 * The typed client (client/index.ts) calling the Worker under test, as `as` (an admin unless said
 * otherwise; "anonymous" sends no token): paths, parameters and bodies are checked by the compiler.
 */
export function apiAs(as: Caller = ADMIN): ApiClient {
  const client = createApiClient({ baseUrl: ORIGIN, fetch: (request) => exports.default.fetch(request) });
  client.use({
    async onRequest({ request }) {
      if (request.headers.has("authorization")) return request;
      for (const [name, value] of Object.entries(await authHeader(as))) request.headers.set(name, value);
      return request;
    },
  });
  return client;
}

/** The typed client as an admin. */
export const api = apiAs();

/**
 * The body of a typed-client answer that must have `status`; fails the test with the answer's
 * problem otherwise.
 */
export function expectOk<T>(result: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (result.response.status !== status || result.data === undefined) {
    expect.fail(`expected ${status}, got ${result.response.status}: ${JSON.stringify(result.error)}`);
  }
  return result.data;
}
