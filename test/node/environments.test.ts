/**
 * wrangler.toml's environments (staging, production) are complete on their own: wrangler inherits
 * neither [vars] nor Durable Object bindings into an environment, so each must bind every object
 * and set every var the top level does, to values the schema accepts. Production is served on its
 * route only.
 */
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";
import { describe, expect, test } from "vitest";
import { ConfigSchema } from "../../functions/config/schema.ts";

const CONFIG = fileURLToPath(new URL("../../wrangler.toml", import.meta.url));

interface WranglerConfig {
  name: string;
  vars: Record<string, unknown>;
  durable_objects: { bindings: Array<{ name: string; class_name: string }> };
  workers_dev?: boolean;
  routes?: unknown[];
  assets?: { directory: string };
}

/** wrangler's own reading of the file (its declared types do not resolve, hence `unknown`). */
function read(env?: string): WranglerConfig {
  const config: unknown = unstable_readConfig({ config: CONFIG, ...(env ? { env } : {}) });
  return config as WranglerConfig;
}

/** The secrets `wrangler secret put` provides in a deployed environment. */
const SECRETS = { DATABASE_URL: "postgres://u:p@db.example.invalid/clinic", AUTH_JWT_SECRET: "x".repeat(32) };

describe.each(["staging", "production"])("the %s environment", (env) => {
  test("binds every Durable Object the top level binds", () => {
    const names = (c: WranglerConfig) => c.durable_objects.bindings.map((b) => `${b.name}:${b.class_name}`).sort();
    expect(names(read(env))).toEqual(names(read()));
  });

  test("sets every var the top level sets (wrangler would leave the rest unset)", () => {
    expect(Object.keys(read(env).vars).sort()).toEqual(Object.keys(read().vars).sort());
  });

  test("has vars that, with the secrets, make a valid configuration", () => {
    const result = ConfigSchema.safeParse({ ...read(env).vars, ...SECRETS });
    expect(result.success, result.success ? "" : JSON.stringify(result.error.issues)).toBe(true);
  });

  test("serves the same static assets (the /docs reference's scripts)", () => {
    expect(read(env).assets).toEqual(read().assets);
    expect(read(env).assets?.directory).toBe("./public");
  });

  test("deploys as its own Worker", () => {
    expect(read(env).name).toBe(`clinic-edge-${env}`);
  });
});

test("production is served on its routes only, not on workers.dev", () => {
  const production = read("production");
  expect(production.workers_dev).toBe(false);
  expect(production.routes?.length).toBeGreaterThan(0);
});
