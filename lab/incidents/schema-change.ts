/**
 * Schema change under load, with two Worker versions live side by side: v1, the shipped code
 * (reads and writes doctors.specialty), on the variant's workerd; v2, the next version (the same
 * routes on doctors.speciality: lab/worker/next-version.ts), on a second workerd pushing to the same
 * collector. Both variants roll out on the same schedule, over the load's T seconds:
 *   0      v1 serves everything; v2 is up but gets no traffic yet
 *   T/5    the migration runs, then v2 takes half the traffic (reads, and writes checked across)
 *   3T/5   v1 retired: all traffic on v2
 *   4T/5   the contract (good only)
 * Bad: the migration is the rename, so v1's reads and writes fail from then until it is retired.
 * Good: expand first (new column, trigger, backfill), contract once v1 is gone: zero errors.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { figure, total, type Incident, type VariantContext, type VariantSpec } from "../incident.ts";
import type { LabRequest, Outcome } from "../load.ts";
import { CONTRACT, EXPAND, RENAME, resetSchema } from "./schema-change-sql.ts";

const READERS = 4;
/** The page both versions read: the written doctors are its first two (by name). */
const PAGE = 5;
/** Between one write-and-read-back and the next: the writes stay a small part of the load. */
const WRITE_PAUSE_MS = 50;

interface Version {
  name: "v1" | "v2";
  /** GET: a page of doctors. */
  list: string;
  /** PATCH: one doctor. */
  doctor(id: string): string;
}

interface Written {
  id: string;
  specialty: string;
}

/** What one variant's writes saw: writes through one version, then a read through the other. */
interface CrossReads {
  writes: number;
  readBack: number;
  sawWrite: number;
}

function versions(ctx: VariantContext): { v1: Version; v2: Version } {
  const v2Base = ctx.alongside.v2!.base;
  return {
    v1: { name: "v1", list: `${ctx.worker.base}/doctors`, doctor: (id) => `${ctx.worker.base}/doctors/${id}` },
    v2: { name: "v2", list: `${v2Base}/__lab/v2/doctors`, doctor: (id) => `${v2Base}/__lab/v2/doctors/${id}` },
  };
}

function pageHas(body: string, doctor: Written): boolean {
  try {
    const page = JSON.parse(body) as { data?: Array<{ id?: unknown; specialty?: unknown }> };
    return (page.data ?? []).some((d) => d.id === doctor.id && d.specialty === doctor.specialty);
  } catch {
    return false;
  }
}

/**
 * While both versions serve: v1 writes doctor A and v2 lists it, v2 writes doctor B and v1 lists
 * it, alternately. Expand/contract's promise is that each sees the other's write.
 */
async function writeAcross(
  ctx: VariantContext,
  v1: Version,
  v2: Version,
  doctors: readonly Written[],
  bothLive: () => boolean,
  seen: CrossReads,
): Promise<void> {
  const headers = { ...ctx.headers, "content-type": "application/json", "if-match": "*" };
  for (let n = 0; bothLive(); n++) {
    const [writer, reader, id] = n % 2 === 0 ? [v1, v2, doctors[0]!.id] : [v2, v1, doctors[1]!.id];
    const doctor = { id, specialty: `lab-${writer.name}-${n}` };
    seen.writes++;
    const write = await ctx.recorder.one(() => ({
      url: writer.doctor(id),
      method: "PATCH",
      headers,
      body: JSON.stringify({ specialty: doctor.specialty }),
      tag: writer.name,
    }));
    if (write.status === "200") {
      seen.readBack++;
      const read = await ctx.recorder.one(() => ({
        url: `${reader.list}?limit=${PAGE}`,
        headers: ctx.headers,
        tag: reader.name,
      }));
      if (read.status === "200" && pageHas(read.body, doctor)) seen.sawWrite++;
    }
    await sleep(WRITE_PAUSE_MS);
  }
}

/** The rollout (see the top of this file), with `migration` at T/5 and `contract`, if any, at 4T/5. */
function rollout(migration: string, contract: string | undefined, doctors: () => readonly Written[], seen: CrossReads) {
  return async (ctx: VariantContext): Promise<void> => {
    Object.assign(seen, { writes: 0, readBack: 0, sawWrite: 0 });
    const { v1, v2 } = versions(ctx);
    const start = ctx.recorder.now();
    const at = (fraction: number) => sleep(Math.max(0, (start + fraction * ctx.seconds - ctx.recorder.now()) * 1_000));
    let live: Version[] = [v1];
    // Request by request, the live versions in turn: each takes an equal share of the reads.
    const reads = ctx.recorder.closedLoop(
      (i): LabRequest => {
        const version = live[i % live.length]!;
        return { url: `${version.list}?limit=${PAGE}`, headers: ctx.headers, tag: version.name };
      },
      READERS,
      ctx.seconds,
    );
    try {
      await at(1 / 5);
      await ctx.target.monitor.query(migration);
      live = [v1, v2];
      const writes = writeAcross(ctx, v1, v2, doctors(), () => live.length === 2, seen);
      await at(3 / 5);
      live = [v2];
      await writes;
      if (contract) {
        await at(4 / 5);
        await ctx.target.monitor.query(contract);
      }
    } finally {
      // A failed migration still lets the reads finish before the variant reports the failure.
      await reads;
    }
  };
}

/** Requests answered 2xx, and 5xx or unanswered, by one version. */
function byVersion(outcomes: readonly Outcome[], name: string): { ok: number; failed: number } {
  const own = outcomes.filter((o) => o.tag === name);
  return {
    ok: own.filter((o) => o.status.startsWith("2")).length,
    failed: own.filter((o) => o.status.startsWith("5") || o.status === "network-error").length,
  };
}

function variant(
  name: string,
  kind: "bad" | "good",
  steps: { migration: string; contract?: string },
  doctors: () => readonly Written[],
): VariantSpec {
  const seen: CrossReads = { writes: 0, readBack: 0, sawWrite: 0 };
  return {
    name,
    kind,
    // The next version: the same lab Worker on a workerd of its own, its traffic on lab/worker/next-version.ts.
    alongside: { v2: {} },
    load: rollout(steps.migration, steps.contract, doctors, seen),
    summarize: (ctx) => {
      const v1 = byVersion(ctx.recorder.outcomes, "v1");
      const v2 = byVersion(ctx.recorder.outcomes, "v2");
      return Promise.resolve({
        "v1 2xx": v1.ok,
        "v1 5xx": v1.failed,
        "v2 2xx": v2.ok,
        "v2 5xx": v2.failed,
        "cross writes": seen.writes,
        "read back": seen.readBack,
        "saw the write": seen.sawWrite,
      });
    },
  };
}

/** The doctors the variants write, as the seed has them: restored after each variant. */
let written: Written[] = [];

async function reset(monitor: pg.Client): Promise<void> {
  await resetSchema(monitor);
  for (const d of written)
    await monitor.query("UPDATE doctors SET specialty = $2 WHERE id = $1 AND specialty <> $2", [d.id, d.specialty]);
}

export const schemaChange: Incident = {
  id: "schema-change",
  title: "Schema change under load",
  what: "Two Worker versions serve side by side while a column is renamed: at once, the running version's reads and writes fail until it is retired; expand/contract (add, sync, backfill; drop once the old version is gone) keeps both working, each reading the other's writes.",
  alerts: ["ServerErrors"],
  setup: async (stack) => {
    await resetSchema(stack.target.monitor);
    const { rows } = await stack.target.monitor.query<Written>(
      "SELECT id, specialty FROM doctors ORDER BY name, id LIMIT 2",
    );
    if (rows.length < 2) throw new Error("schema-change needs two seeded doctors");
    written = rows;
    return { close: () => reset(stack.target.monitor) };
  },
  before: (stack) => reset(stack.target.monitor),
  variants: [
    variant("bad: a breaking rename while v1 serves", "bad", { migration: RENAME }, () => written),
    variant(
      "good: expand, v1 and v2 side by side, retire v1, contract",
      "good",
      { migration: EXPAND, contract: CONTRACT },
      () => written,
    ),
  ],
  checks: ([bad, good]) => [
    {
      name: "5xx: from v1 after the breaking rename (none from v2); none from either version with expand/contract",
      passed:
        figure(bad, "v1 5xx") > 0 &&
        figure(bad, "v2 5xx") === 0 &&
        total(good, "errors_5xx") === 0 &&
        figure(good, "v1 5xx") + figure(good, "v2 5xx") === 0,
      detail: `bad v1 ${figure(bad, "v1 5xx")}, v2 ${figure(bad, "v2 5xx")}; good v1 ${figure(good, "v1 5xx")}, v2 ${figure(good, "v2 5xx")}`,
    },
    {
      name: "both versions served in the expand/contract run",
      passed: figure(good, "v1 2xx") > 0 && figure(good, "v2 2xx") > 0,
      detail: `v1 ${figure(good, "v1 2xx")}, v2 ${figure(good, "v2 2xx")} answers 2xx`,
    },
    {
      name: "with expand/contract every write through one version is read back through the other",
      passed:
        figure(good, "cross writes") > 0 &&
        figure(good, "read back") === figure(good, "cross writes") &&
        figure(good, "saw the write") === figure(good, "read back"),
      detail: `good ${figure(good, "saw the write")}/${figure(good, "cross writes")}, bad ${figure(bad, "saw the write")}/${figure(bad, "cross writes")}`,
    },
  ],
};
