/**
 * The incident lab's "bad" patterns, each the failure a seed section shows, built from clinic-edge's
 * own query and database code. They live only in the lab's Worker entry (./index.ts): the
 * production entry (functions/index.ts) never imports this file, so no configuration can reach them.
 */
import { Hono } from "hono";
import { and, asc, eq, gte, lt, sql } from "drizzle-orm";
import { Deadline } from "../../core/deadline.ts";
import { Collected } from "../../core/telemetry/registry.ts";
import { appointments, doctors } from "../../db/schema/index.ts";
import { findAvailability } from "../../db/queries/availability.ts";
import type { AppEnv } from "../../functions/env.ts";
import { NotFoundError, UnavailableError, ValidationError } from "../../functions/http/errors.ts";
import { queryEligibility } from "../../functions/insurance/client.ts";
import { metrics, registry } from "../../functions/observability/metrics.ts";
import { breakerCounters, countsAsFailure } from "../../functions/resilience/breaker/circuit.ts";
import { coalesced } from "../../functions/resilience/coalescer/client.ts";
import type { LoadResult } from "../../functions/resilience/coalescer/loaders.ts";
import type { CoalescedReply } from "../../functions/resilience/coalescer/object.ts";
import { inBackground } from "../../functions/http/background.ts";
import { EXPORT_DELAY_MS } from "../../core/telemetry/span-export.ts";
import { nowNanos, postOtlp } from "../../core/telemetry/otlp.ts";
import type { Context } from "hono";
import { deploy } from "./deploy.ts";

/** What one remembered answer holds: 32 KiB, so growth shows within seconds. */
const ENTRY_BYTES = 32 * 1024;
/**
 * The "unbounded" map's safety cap, far above the bounded one's (64 MiB): a long lab run must not
 * reach workerd's isolate memory limit and turn the incident into a crash.
 */
const LAB_SAFETY_ENTRIES = 2_048;
/** The bounded structure's cap, as clinic-edge bounds its per-isolate maps. */
const BOUNDED_ENTRIES = 64;
/** A budget no request would ever be given: the "no deadline" of the leaked-work incident. */
const NO_DEADLINE_MS = 300_000;
/** The advisory lock every leaked-work request queues on. */
const LAB_LOCK = 4242;

/** Per-isolate structures of the memory-growth incident, by name. */
const remembered = { unbounded: new Map<string, string>(), bounded: new Map<string, string>() };

registry.register(
  new Collected(
    "isolate_retained_bytes",
    "Bytes held by a per-isolate structure, by structure (this isolate since it started; each Worker isolate counts on its own)",
    "gauge",
    () =>
      Object.entries(remembered).map(([structure, map]) => ({
        labels: { structure },
        value: map.size * ENTRY_BYTES,
      })),
  ),
);

function query(c: { req: { query(name: string): string | undefined } }, name: string): string {
  const value = c.req.query(name);
  if (!value) throw new ValidationError([{ field: name, in: "query", message: "required" }]);
  return value;
}

export const labRoutes = new Hono<AppEnv>();

/** n-plus-one, bad: one query for the doctors, then one per doctor for their appointments. */
labRoutes.get("/doctors-with-appointments", async (c) => {
  const from = new Date(query(c, "from"));
  const to = new Date(query(c, "to"));
  const limit = Number(c.req.query("limit") ?? "20");
  const { requestDb: db, deadline } = c.var;
  const page = await db.query(deadline, (q) =>
    q.select().from(doctors).orderBy(asc(doctors.name), asc(doctors.id)).limit(limit),
  );
  const rows = [];
  for (const doctor of page) {
    const own = await db.query(deadline, (q) =>
      q
        .select()
        .from(appointments)
        .where(
          and(eq(appointments.doctorId, doctor.id), gte(appointments.startsAt, from), lt(appointments.startsAt, to)),
        ),
    );
    rows.push({ ...doctor, appointments: own });
  }
  return c.json({ items: rows });
});

/** memory-growth: each answer remembered in a per-isolate map, without (bad) or with (good) a bound. */
labRoutes.get("/remember", (c) => {
  const bounded = c.req.query("bounded") === "1";
  const map = bounded ? remembered.bounded : remembered.unbounded;
  if (map.size < LAB_SAFETY_ENTRIES) map.set(c.var.requestId, "x".repeat(ENTRY_BYTES));
  if (bounded) while (map.size > BOUNDED_ENTRIES) map.delete(map.keys().next().value!);
  return c.json({ entries: map.size });
});

/**
 * leaked-work: a transaction that queues on one advisory lock and holds it `holdMs`; without a
 * deadline (bad) it waits as long as the queue is, with the request's (good) it answers 504.
 */
labRoutes.get("/hold-lock", async (c) => {
  const holdMs = Number(c.req.query("holdMs") ?? "250");
  const deadline = c.req.query("deadline") === "0" ? Deadline.start(NO_DEADLINE_MS) : c.var.deadline;
  await c.var.requestDb.run(deadline, async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${LAB_LOCK})`);
    await tx.execute(sql`SELECT pg_sleep(${holdMs / 1_000})`);
  });
  return c.json({ held: holdMs });
});

/**
 * upstream-outage, no breaker: every request calls the insurer, counted in the insurer's breaker
 * counters (calls, failures) as if a breaker were there that never opens.
 */
labRoutes.get("/eligibility-unguarded", async (c) => {
  const config = c.var.config;
  const counters = breakerCounters(config.breaker.insuranceName);
  try {
    const answer = await queryEligibility(
      config.insurance,
      { memberId: query(c, "memberId"), serviceDate: query(c, "date") },
      c.var.deadline,
      async (attempt) => {
        counters.calls++;
        try {
          return await attempt();
        } catch (err) {
          if (countsAsFailure(err)) counters.failures++;
          throw err;
        }
      },
      c.var.span,
    );
    return c.json({ eligibility: answer.covered ? "covered" : "not_covered" });
  } catch (err) {
    throw new UnavailableError("the insurer did not answer", 1_000, { cause: err });
  }
});

/**
 * cache-stampede, bad: every request loads availability from Postgres itself, no coalescing;
 * counted as what it is, a coalesced read whose outcome is always "load".
 */
labRoutes.get("/availability-direct", async (c) => {
  metrics.coalescer.inc({ outcome: "load" });
  const value = await findAvailability(c.var.requestDb, c.var.deadline, query(c, "doctor"), query(c, "date"));
  if (!value) throw new NotFoundError("doctor", query(c, "doctor"));
  return c.json(value);
});

/** POST /__lab/deploy: the deploy-during-traffic incident resets every Durable Object (./deploy.ts). */
labRoutes.post("/deploy", deploy);

type AvailabilityRead = { loader: "availability"; doctorId: string; date: string };

/** The doctor's Coalescer called straight through its stub: whatever the call throws is the request's 500. */
async function unhandled(c: Context<AppEnv>, request: AvailabilityRead): Promise<LoadResult<AvailabilityRead> | null> {
  const ns = c.env.COALESCER;
  const reply: CoalescedReply = await c.var.deadline.race(
    ns.get(ns.idFromName(`doctor:${request.doctorId}`)).load(request, c.var.deadline.remaining()),
    "coalescer",
  );
  if (reply.kind !== "value") throw new Error(`coalescer answered ${reply.kind}`);
  return reply.value as LoadResult<AvailabilityRead> | null;
}

/**
 * The read's post-response work: one record of it sent to the OTLP collector, after the delay every
 * span export waits for its batch (core/telemetry/span-export.ts). The collector counts what lands.
 */
function recordRead(c: Context<AppEnv>): (deadline: Deadline) => Promise<void> {
  const { endpoint, headers, serviceName } = c.var.config.tracing;
  const requestId = c.var.requestId;
  return async (deadline) => {
    if (!endpoint) return;
    await new Promise((resolve) => setTimeout(resolve, EXPORT_DELAY_MS));
    const span = {
      traceId: crypto.randomUUID().replaceAll("-", ""),
      spanId: crypto.randomUUID().replaceAll("-", "").slice(0, 16),
      name: "lab.read.recorded",
      kind: 1,
      startTimeUnixNano: nowNanos(),
      endTimeUnixNano: nowNanos(),
      attributes: [{ key: "request.id", value: { stringValue: requestId } }],
    };
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: serviceName } }] },
          scopeSpans: [{ scope: { name: "clinic-edge-lab" }, spans: [span] }],
        },
      ],
    };
    await postOtlp(endpoint, headers, "v1/traces", body, deadline.signal);
  };
}

/**
 * deploy-during-traffic: a doctor's availability through the Coalescer, then post-response work.
 * handled=1 is the app's way: the Coalescer client (a reset object's call sent once more on a fresh
 * stub, else a direct load) and the work in ctx.waitUntil through inBackground, bounded by
 * BACKGROUND_TIMEOUT_MS. handled=0 calls the stub directly, so a reset surfaces as a 500, and starts
 * the work without waitUntil: the runtime cancels it once the response is out.
 */
labRoutes.get("/availability-read", async (c) => {
  const request: AvailabilityRead = { loader: "availability", doctorId: query(c, "doctor"), date: query(c, "date") };
  const handled = c.req.query("handled") === "1";
  const value = handled ? await coalesced(c, request) : await unhandled(c, request);
  if (!value) throw new NotFoundError("doctor", request.doctorId);
  const record = recordRead(c);
  if (handled) inBackground(c, "record read", record);
  else void record(Deadline.start(c.var.config.budget.backgroundMs)).catch(() => undefined);
  return c.json(value);
});
