import { env } from "cloudflare:workers";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { RequestDb, prepared, type Bound, type QueryPath } from "../../../db/client.ts";
import { patients } from "../../../db/schema/index.ts";
import { loadConfig } from "../../../functions/config/index.ts";
import { Deadline } from "../../../core/deadline.ts";
import { createPatient } from "../../helpers/factories.ts";
import { sqlEndpointStats } from "../../helpers/sql-endpoint.ts";

const app = (requestId: string) => `clinic-edge:${requestId}`;

describe.each<QueryPath>(["http", "ws"])("a prepared statement on the %s path", (path) => {
  function requestDb(requestId: string): RequestDb {
    const config = loadConfig({ ...env, DB_QUERY_PATH: path });
    return new RequestDb({ url: config.databaseUrl, ...config.db, applicationName: app(requestId) });
  }

  it("returns exactly the rows the same statement built per call returns", async () => {
    const withAll = await createPatient({
      phone: "+55 11 5555-0101",
      insuranceMemberId: `M-${crypto.randomUUID().slice(0, 8)}`,
    });
    const withNulls = await createPatient();
    const byId = prepared("test_patient_by_id", ["id"], (q, v: Bound<{ id: string }>) =>
      q.select().from(patients).where(eq(patients.id, v.id)),
    );
    const db = requestDb(`prepared-same-${crypto.randomUUID()}`);
    try {
      for (const id of [withAll.id, withNulls.id, crypto.randomUUID()]) {
        const fromPrepared = await db.prepared(Deadline.start(5_000), byId, { id });
        const builtPerCall = await db.query(Deadline.start(5_000), (q) =>
          q.select().from(patients).where(eq(patients.id, id)),
        );
        expect(fromPrepared).toEqual(builtPerCall);
      }
      const [row] = await db.prepared(Deadline.start(5_000), byId, { id: withAll.id });
      expect(row).toMatchObject({
        id: withAll.id,
        phone: "+55 11 5555-0101",
        insuranceMemberId: withAll.insuranceMemberId,
      });
      expect(row?.createdAt).toBeInstanceOf(Date);
    } finally {
      await db.end();
    }
  });

  it("binds its values as parameters: a hostile value is data, not SQL", async () => {
    const byEmail = prepared("test_patient_by_email", ["email"], (q, v: Bound<{ email: string }>) =>
      q.select({ id: patients.id }).from(patients).where(eq(patients.email, v.email)),
    );
    const db = requestDb(`prepared-bind-${crypto.randomUUID()}`);
    try {
      expect(await db.prepared(Deadline.start(5_000), byEmail, { email: "x' OR '1'='1" })).toEqual([]);
      const patient = await createPatient();
      expect(await db.prepared(Deadline.start(5_000), byEmail, { email: patient.email })).toEqual([{ id: patient.id }]);
    } finally {
      await db.end();
    }
  });

  it(
    path === "http"
      ? "builds its SQL once per isolate, however many requests run it"
      : "builds it per call with the values on the transaction's own connection",
    async () => {
      let builds = 0;
      const byId = prepared("test_counted_build", ["id"], (q, v: Bound<{ id: string }>) => {
        builds++;
        return q.select({ id: patients.id }).from(patients).where(eq(patients.id, v.id));
      });
      const patient = await createPatient();
      for (let request = 0; request < 3; request++) {
        const db = requestDb(`prepared-once-${crypto.randomUUID()}`);
        try {
          expect(await db.prepared(Deadline.start(5_000), byId, { id: patient.id })).toEqual([{ id: patient.id }]);
        } finally {
          await db.end();
        }
      }
      expect(builds).toBe(path === "http" ? 1 : 3);
    },
  );

  it("counts as one statement in the request's stats", async () => {
    const patient = await createPatient();
    const byId = prepared("test_stats", ["id"], (q, v: Bound<{ id: string }>) =>
      q.select({ id: patients.id }).from(patients).where(eq(patients.id, v.id)),
    );
    const requestId = `prepared-stats-${crypto.randomUUID()}`;
    const db = requestDb(requestId);
    try {
      await db.prepared(Deadline.start(5_000), byId, { id: patient.id });
      expect(db.stats).toMatchObject({ queries: 1, httpRoundTrips: path === "http" ? 1 : 0 });
      const shapes = db.repeatedShapes(1);
      expect(shapes).toHaveLength(1);
      expect(shapes[0]).toMatchObject({ count: 1, sql: 'select "id" from "patients" where "patients"."id" = $1' });
    } finally {
      await db.end();
    }
    // On the HTTP path the request's deadline travels with it: statement_timeout first, then the statement.
    if (path === "http")
      expect(await sqlEndpointStats(app(requestId))).toMatchObject({ requests: 1, batches: 1, statements: 2 });
  });
});

describe("a prepared statement on the http path at its deadline", () => {
  it("stops at the budget with the deadline's own error", async () => {
    const config = loadConfig({ ...env, DB_QUERY_PATH: "http" });
    const db = new RequestDb({
      url: config.databaseUrl,
      ...config.db,
      applicationName: app(`prepared-late-${crypto.randomUUID()}`),
    });
    const slow = prepared("test_sleep", ["seconds"], (q, v: Bound<{ seconds: number }>) =>
      q
        .select({ slept: sql<string>`pg_sleep(${v.seconds})::text` })
        .from(patients)
        .limit(1),
    );
    await createPatient();
    const started = Date.now();
    try {
      await expect(db.prepared(Deadline.start(300), slow, { seconds: 5 })).rejects.toMatchObject({
        name: "DeadlineExceededError",
      });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await db.end();
    }
  });
});
