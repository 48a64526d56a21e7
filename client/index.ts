/**
 * A typed client of the clinic-edge API: openapi-fetch over the types that openapi-typescript
 * generates from /openapi.json (client/schema.d.ts; `npm run client:generate` refreshes it).
 * Paths, parameters, bodies and answers are all checked by the compiler.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";

export type { components, paths };
export type ApiClient = Client<paths>;

export interface ApiClientOptions extends ClientOptions {
  /** The API's origin, e.g. http://127.0.0.1:8787. */
  baseUrl: string;
  /** A bearer token (`npm run token` mints one locally); omitted: anonymous. */
  token?: string;
}

/** A client of the API at `baseUrl`; with `token`, every request carries it as a bearer token. */
export function createApiClient({ token, ...options }: ApiClientOptions): ApiClient {
  const client = createClient<paths>(options);
  if (token !== undefined) client.use(bearer(token));
  return client;
}

function bearer(token: string): Middleware {
  return {
    onRequest({ request }) {
      if (!request.headers.has("authorization")) request.headers.set("authorization", `Bearer ${token}`);
      return request;
    },
  };
}
