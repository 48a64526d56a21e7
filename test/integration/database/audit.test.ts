/**
 * Who makes a change reaches Postgres as transaction-local settings (core/audit.ts) in the same
 * round trip as the change, on both paths; a subject from a token cannot break out of them.
 */
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { RequestDb, type QueryPath } from "../../../db/client.ts";
import { loadConfig } from "../../../functions/config/index.ts";
import { AUDIT_SETTINGS, type Audit } from "../../../core/audit.ts";
import { Deadline } from "../../../core/deadline.ts";
import { count } from "../../helpers/db.ts";

describe.each<QueryPath>(["http", "ws"])("the audit settings on the %s path", (path) => {
  async function settingsSeen(audit: Audit): Promise<string[]> {
    const config = loadConfig({ ...env, DB_QUERY_PATH: path });
    const db = new RequestDb({
      url: config.databaseUrl,
      ...config.db,
      applicationName: `clinic-edge:audit-${crypto.randomUUID()}`,
      audit,
    });
    try {
      type Row = Record<string, string>;
      // Each path's driver answers execute() in its own shape: rows, or a result holding them.
      const result: unknown = await db.query(Deadline.start(5_000), (q) =>
        q.execute(
          sql.raw(`SELECT ${AUDIT_SETTINGS.map((name, n) => `current_setting('${name}', true) AS s${n}`).join(", ")}`),
        ),
      );
      const [row] = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Row[];
      return AUDIT_SETTINGS.map((_, n) => row![`s${n}`]!);
    } finally {
      await db.end();
    }
  }

  it("are set for the transaction that makes the change", async () => {
    const requestId = crypto.randomUUID();
    expect(
      await settingsSeen({ requestId, clientRequestId: "client-1", actor: { role: "patient", sub: "p-1" } }),
    ).toEqual([requestId, "client-1", "patient", "p-1"]);
  });

  it("carry a hostile subject as inert text: no statement of it runs", async () => {
    const before = await count("SELECT 1 FROM appointment_events");
    const sub = "x'; DELETE FROM appointment_events; --";
    const seen = await settingsSeen({ requestId: "r", clientRequestId: undefined, actor: { role: "admin", sub } });
    expect(seen[3]).toBe("x???DELETE?FROM?appointment_events??--");
    expect(await count("SELECT 1 FROM appointment_events")).toBeGreaterThanOrEqual(before);
  });
});
