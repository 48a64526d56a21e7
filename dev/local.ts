/** Fixed addresses of the local development stack (`npm run dev`); tests pick free ports instead. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
export const DEV_WORKER_PORT = Number(process.env.PORT ?? 8787);
export const DEV_DATABASE = "clinic";
export const EMBEDDED_URL = `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${DEV_PG_PORT}/${DEV_DATABASE}`;

/** The database the dev tools act on: DATABASE_URL when set, else the embedded one. */
export const databaseUrl = (): string => process.env.DATABASE_URL || EMBEDDED_URL;
