/**
 * `cloudflare:workers` for the unit tests when they run in Node (vitest.mutation.config.ts): `env`
 * holds wrangler.toml's [vars] and the few bindings the tests read, as the Worker would see them.
 */
import { readFileSync } from "node:fs";

const vars: Record<string, string> = {};
const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
const section = /^\[vars\]\n([\s\S]*?)(?:^\[|(?![\s\S]))/m.exec(toml)?.[1] ?? "";
for (const m of section.matchAll(/^([A-Z0-9_]+) = "(.*)"$/gm)) vars[m[1]!] = m[2]!;

export const env: Record<string, string> = {
  ...vars,
  DATABASE_URL: "postgres://app:pw@db.example.test/clinic",
  AUTH_JWT_SECRET: "unit-tests-secret-of-at-least-32-characters",
  AUTH_ISSUER: "https://auth.clinic-edge.test/",
  AUTH_AUDIENCE: "clinic-edge",
};
