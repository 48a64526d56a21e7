/**
 * Schema change under load: a migration runs while the Worker version that reads the old schema
 * still serves. A breaking one (renaming doctors.specialty) turns every read of doctors into a 500
 * at once; expand/contract adds the new column first (backfilled), so the running version and the
 * next one both work side by side, and the old column is dropped only once no version reads it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { total, type Incident, type VariantSpec } from "../incident.ts";

const CONCURRENCY = 4;

/** Back to the schema the migrations made, whatever a variant left. */
async function resetSchema(monitor: pg.Client): Promise<void> {
  await monitor.query(`DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'doctors' AND column_name = 'speciality') THEN
      IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'doctors' AND column_name = 'specialty') THEN
        ALTER TABLE doctors DROP COLUMN speciality;
      ELSE
        ALTER TABLE doctors RENAME COLUMN speciality TO specialty;
      END IF;
    END IF;
  END $$`);
}

function variant(name: string, kind: "bad" | "good", migration: string): VariantSpec {
  return {
    name,
    kind,
    load: async (ctx) => {
      const traffic = ctx.recorder.closedLoop(
        () => ({ url: `${ctx.worker.base}/doctors?limit=5`, headers: ctx.headers }),
        CONCURRENCY,
        ctx.seconds,
      );
      // A third of the way in, the migration runs under the live version.
      await sleep((ctx.seconds * 1_000) / 3);
      await ctx.target.monitor.query(migration);
      await traffic;
    },
  };
}

export const schemaChange: Incident = {
  id: "schema-change",
  title: "Schema change under load",
  what: "A breaking migration (a renamed column) under the running Worker version fails every read at once; expand/contract adds the new column first, so old and new versions both work and nothing fails.",
  alerts: ["ServerErrors"],
  setup: (stack) => Promise.resolve({ close: () => resetSchema(stack.target.monitor) }),
  before: (stack) => resetSchema(stack.target.monitor),
  variants: [
    variant("bad: a breaking rename", "bad", "ALTER TABLE doctors RENAME COLUMN specialty TO speciality"),
    variant(
      "good: expand (add and backfill), contract later",
      "good",
      "ALTER TABLE doctors ADD COLUMN speciality text; UPDATE doctors SET speciality = specialty",
    ),
  ],
  checks: ([bad, good]) => [
    {
      name: "errors after the migration: many for the breaking one, none with expand/contract",
      passed: total(bad, "errors_5xx") > 0 && total(good, "errors_5xx") === 0,
      detail: `bad ${total(bad, "errors_5xx")}, good ${total(good, "errors_5xx")}`,
    },
  ],
};
