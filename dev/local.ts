/** Fixed addresses of the local development stack (`npm run dev`); tests pick free ports instead. */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseEnv } from "node:util";
import { fileURLToPath } from "node:url";
import { rttFromEnv } from "./latency.ts";
import { EMBEDDED_PASSWORD, EMBEDDED_USER } from "./postgres.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where the embedded cluster and the instance lock live; DEV_DATA_DIR moves both (e.g. for a second stack). */
export const DEV_DATA_DIR = process.env.DEV_DATA_DIR ?? fileURLToPath(new URL("../.data", import.meta.url));
export const DATA_DIR = join(DEV_DATA_DIR, "postgres");
export const LOCK_FILE = join(DEV_DATA_DIR, "dev.pid");
export const DEV_PG_PORT = Number(process.env.DEV_PG_PORT ?? 54329);
export const DEV_BRIDGE_PORT = Number(process.env.DEV_BRIDGE_PORT ?? 54330);
export const DEV_SQL_PORT = Number(process.env.DEV_SQL_PORT ?? 54331);
/** The insurer's stand-in (dev/insurance.ts); the port matches INSURANCE_API_URL in wrangler.toml. */
export const DEV_INSURANCE_PORT = Number(process.env.DEV_INSURANCE_PORT ?? 54332);
/** The local OTLP collector `DEV_OTLP=1 npm run dev` starts (dev/otlp-collector.ts). */
export const DEV_OTLP_PORT = Number(process.env.DEV_OTLP_PORT ?? 54333);
/** The stand-in's API key; the same value as .dev.vars.example's INSURANCE_API_KEY. */
export const DEV_INSURANCE_KEY = "dev-insurance-key";
/** A simulated distance to the database: the bridge and /sql endpoint add this round trip per exchange. */
export const DEV_DB_RTT_MS = rttFromEnv();
export const DEV_WORKER_PORT = Number(process.env.PORT ?? 8787);
export const DEV_DATABASE = "clinic";
export const EMBEDDED_URL = `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${DEV_PG_PORT}/${DEV_DATABASE}`;

/** The database the dev tools act on: DATABASE_URL when set, else the embedded one. */
export const databaseUrl = (): string => process.env.DATABASE_URL || EMBEDDED_URL;

/** The developer's own secrets for `wrangler dev` (git-ignored; see .dev.vars.example). */
export const DEV_VARS_FILE = join(ROOT, ".dev.vars");
/** The HS256 secret `npm run dev` makes up when none is given, kept so tokens survive restarts. */
export const AUTH_SECRET_FILE = join(DEV_DATA_DIR, "auth-jwt-secret");

/**
 * The AUTH_JWT_SECRET of the local stack, the same for `npm run dev` (which hands it to the Worker)
 * and `npm run token` (which signs with it): the environment's, else .dev.vars', else a random one
 * made on first use and kept in .data/ (mode 0600). Returns where it came from, never printing it.
 */
export function localAuthSecret(): { secret: string; source: string } {
  const fromEnv = process.env.AUTH_JWT_SECRET;
  if (fromEnv) return { secret: fromEnv, source: "the AUTH_JWT_SECRET environment variable" };
  if (existsSync(DEV_VARS_FILE)) {
    const fromFile = parseEnv(readFileSync(DEV_VARS_FILE, "utf8")).AUTH_JWT_SECRET;
    if (fromFile) return { secret: fromFile, source: ".dev.vars" };
  }
  if (!existsSync(AUTH_SECRET_FILE)) {
    mkdirSync(dirname(AUTH_SECRET_FILE), { recursive: true });
    writeFileSync(AUTH_SECRET_FILE, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
  }
  return { secret: readFileSync(AUTH_SECRET_FILE, "utf8").trim(), source: AUTH_SECRET_FILE };
}
