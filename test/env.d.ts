declare module "vitest" {
  interface ProvidedContext {
    /** The test database (embedded, or a scratch database on DATABASE_URL's server). */
    databaseUrl: string;
    /** host:port of the WebSocket bridge in front of it. */
    wsProxy: string;
  }
}

export {};
