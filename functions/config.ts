import { z } from "zod";

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Every tunable of the Worker, parsed once per env object; wrangler.toml [vars] holds the defaults. */
const ConfigSchema = z.object({
  DATABASE_URL: z.string().url(),
  DB_POOL_MAX: intFrom(1, 5).default(5),
  DB_CONNECT_TIMEOUT_MS: intFrom(100, 60_000).default(5_000),
  DB_IDLE_TIMEOUT_MS: intFrom(0, 60_000).default(1_000),
  DB_STATEMENT_TIMEOUT_MS: intFrom(100, 600_000).default(10_000),
  DB_WS_PROXY: z.string().default(""),
  MAX_BODY_BYTES: intFrom(1_024, 10_485_760).default(65_536),
  REQUEST_TIMEOUT_MS: intFrom(10, 300_000).default(10_000),
  REQUEST_TIMEOUT_MAX_MS: intFrom(10, 300_000).default(30_000),
  BACKGROUND_TIMEOUT_MS: intFrom(10, 300_000).default(10_000),
});

export interface Config {
  databaseUrl: string;
  db: {
    poolMax: number;
    connectTimeoutMs: number;
    idleTimeoutMs: number;
    statementTimeoutMs: number;
    /** host:port of a local WebSocket->TCP bridge; undefined when talking to Neon directly. */
    wsProxy: string | undefined;
  };
  maxBodyBytes: number;
  budget: {
    /** A request's budget when neither the route nor the client says otherwise. */
    defaultMs: number;
    /** No budget, whoever asks, is longer. */
    maxMs: number;
    /** Each task handed to ctx.waitUntil gets this long. */
    backgroundMs: number;
  };
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const cache = new WeakMap<object, Config>();

export function loadConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    // Names only: values may be secrets.
    const fields = parsed.error.issues.map((i) => i.path.join(".")).join(", ");
    throw new ConfigError(`Invalid Worker configuration: ${fields}`);
  }
  const v = parsed.data;
  const config: Config = {
    databaseUrl: v.DATABASE_URL,
    db: {
      poolMax: v.DB_POOL_MAX,
      connectTimeoutMs: v.DB_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: v.DB_IDLE_TIMEOUT_MS,
      statementTimeoutMs: v.DB_STATEMENT_TIMEOUT_MS,
      wsProxy: v.DB_WS_PROXY || undefined,
    },
    maxBodyBytes: v.MAX_BODY_BYTES,
    budget: {
      defaultMs: Math.min(v.REQUEST_TIMEOUT_MS, v.REQUEST_TIMEOUT_MAX_MS),
      maxMs: v.REQUEST_TIMEOUT_MAX_MS,
      backgroundMs: v.BACKGROUND_TIMEOUT_MS,
    },
  };
  cache.set(env, config);
  return config;
}
