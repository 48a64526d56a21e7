/**
 * The two baselines of bench/stampede.ts, built from clinic-edge's own query and database code:
 *   STAMPEDE_MODE=none      every request loads availability from Postgres itself;
 *   STAMPEDE_MODE=isolate   requests of one isolate share a load in flight (the seed's
 *                           singleflight, confined to the isolate's memory).
 * Only the coalescing strategy differs from the real Worker.
 */
import { RequestDb } from "../../db/client.ts";
import { findAvailability, type Availability } from "../../db/queries/availability.ts";
import { loadConfig } from "../../functions/config/index.ts";
import { Deadline } from "../../core/deadline.ts";

type Env = Parameters<typeof loadConfig>[0] & { STAMPEDE_MODE: "none" | "isolate" };

/** Loads in flight in this isolate, by key. */
const inflight = new Map<string, Promise<Availability | undefined>>();

async function load(
  env: Env,
  ctx: ExecutionContext,
  doctorId: string,
  date: string,
): Promise<Availability | undefined> {
  const config = loadConfig(env);
  const db = new RequestDb({ url: config.databaseUrl, ...config.db, applicationName: `stampede:${env.STAMPEDE_MODE}` });
  try {
    return await findAvailability(db, Deadline.start(config.budget.defaultMs), doctorId, date);
  } finally {
    ctx.waitUntil(db.end());
  }
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    const doctorId = url.searchParams.get("doctor") ?? "";
    const date = url.searchParams.get("date") ?? "";
    let value: Availability | undefined;
    if (env.STAMPEDE_MODE === "isolate") {
      const key = `${doctorId}:${date}`;
      let shared = inflight.get(key);
      if (!shared) {
        shared = load(env, ctx, doctorId, date).finally(() => inflight.delete(key));
        inflight.set(key, shared);
      }
      value = await shared;
    } else {
      value = await load(env, ctx, doctorId, date);
    }
    return Response.json(value ?? null, { status: value ? 200 : 404 });
  },
} satisfies ExportedHandler<Env>;
