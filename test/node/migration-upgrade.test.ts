/**
 * Upgrading a database that already holds data: drizzle/ applied one migration at a time, the way
 * production meets them, with rows written at each step as that step's schema allowed. Afterwards
 * the rows are intact and the later migrations' guarantees hold for them too (the history backfill,
 * row versions, the no-overlap exclusion constraint).
 *
 * On the server DATABASE_URL names when it is set (a scratch database of its own), on an embedded
 * Postgres otherwise, like the workerd suite.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, migrateDatabase } from "../../dev/migrate.ts";
import { startThrowawayPostgres } from "../../dev/postgres.ts";
import { createScratchDatabase } from "../../dev/scratch.ts";

interface Journal {
  entries: Array<{ idx: number; tag: string }>;
}

const DOCTOR_A = "00000000-0000-4000-8000-00000000000a";
const DOCTOR_B = "00000000-0000-4000-8000-00000000000b";
const PATIENT = "00000000-0000-4000-8000-000000000001";
const SCHEDULED = "00000000-0000-4000-8000-0000000000a1";
const CANCELLED = "00000000-0000-4000-8000-0000000000a2";
const COMPLETED = "00000000-0000-4000-8000-0000000000a3";
/** When the seeded rows were last changed: the backfilled history must say so. */
const UPDATED_AT = "2026-03-02T08:00:00.000Z";

/** Rows each step writes once its migration has run, as that step's schema allows. */
const SEED_AFTER: Record<string, string[]> = {
  "0000_init": [
    `INSERT INTO doctors (id, name, specialty) VALUES ('${DOCTOR_A}', 'Dr. A', 'cardiology'), ('${DOCTOR_B}', 'Dr. B', 'dermatology')`,
    `INSERT INTO patients (id, name, email, birth_date) VALUES ('${PATIENT}', 'Pat', 'pat@example.com', '1980-05-17')`,
    // A cancelled appointment overlapping a scheduled one of the same doctor: allowed before and after 0001.
    `INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, status, updated_at) VALUES
      ('${SCHEDULED}', '${DOCTOR_A}', '${PATIENT}', '2027-01-04T10:00Z', '2027-01-04T11:00Z', 'scheduled', '${UPDATED_AT}'),
      ('${CANCELLED}', '${DOCTOR_A}', '${PATIENT}', '2027-01-04T10:30Z', '2027-01-04T11:30Z', 'cancelled', '${UPDATED_AT}'),
      ('${COMPLETED}', '${DOCTOR_B}', '${PATIENT}', '2026-02-02T09:00Z', '2026-02-02T09:30Z', 'completed', '${UPDATED_AT}')`,
  ],
  "0002_doctor_schedules": [
    `INSERT INTO doctor_schedules (doctor_id, weekday, starts_at, ends_at) VALUES ('${DOCTOR_A}', 1, '09:00', '12:00')`,
  ],
  "0003_insurance_eligibility": [
    `UPDATE appointments SET eligibility = 'covered', updated_at = '${UPDATED_AT}' WHERE id = '${SCHEDULED}'`,
    `UPDATE patients SET insurance_member_id = 'MEMBER-1' WHERE id = '${PATIENT}'`,
  ],
};

let url: string;
let cleanup: () => Promise<void>;
let db: pg.Client;
const applied: string[] = [];

/** Applies the journal's first `count` migrations with drizzle's migrator (it skips those already applied). */
async function migrateTo(count: number, journal: Journal): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), "clinic-edge-upgrade-"));
  try {
    await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
    const upTo: Journal = { ...journal, entries: journal.entries.slice(0, count) };
    await writeFile(join(folder, "meta", "_journal.json"), JSON.stringify(upTo));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("SET client_min_messages = warning");
      await migrate(drizzle({ client }), { migrationsFolder: folder });
    } finally {
      await client.end();
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    const scratch = await createScratchDatabase(serverUrl, "clinic_edge_upgrade_");
    url = scratch.url;
    cleanup = () => scratch.drop();
  } else {
    const postgres = await startThrowawayPostgres({ label: "upgrade-pg", database: "clinic_upgrade" });
    url = postgres.url;
    cleanup = () => postgres.stop();
  }
  const journal = JSON.parse(await readFile(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as Journal;
  for (const [i, { tag }] of journal.entries.entries()) {
    await migrateTo(i + 1, journal);
    const seed = new pg.Client({ connectionString: url });
    await seed.connect();
    try {
      for (const statement of SEED_AFTER[tag] ?? []) await seed.query(statement);
    } finally {
      await seed.end();
    }
    applied.push(tag);
  }
  db = new pg.Client({ connectionString: url });
  await db.connect();
}, 120_000);

afterAll(async () => {
  await db?.end();
  await cleanup?.();
}, 60_000);

describe("a seeded database migrated step by step from the first migration to the last", () => {
  it("applied every migration in drizzle/, each recorded once; the project's own migrate then finds nothing to do", async () => {
    const journal = JSON.parse(await readFile(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as Journal;
    expect(applied).toEqual(journal.entries.map((e) => e.tag));
    const recorded = async () =>
      Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM drizzle.__drizzle_migrations")).rows[0]!.n);
    expect(await recorded()).toBe(journal.entries.length);
    await migrateDatabase(url);
    expect(await recorded()).toBe(journal.entries.length);
  });

  it("keeps every row written along the way, with version 1", async () => {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT a.id, a.status, a.eligibility, a.version, p.insurance_member_id, d.version AS doctor_version,
              (SELECT count(*)::int FROM doctor_schedules s WHERE s.doctor_id = a.doctor_id) AS schedules
       FROM appointments a JOIN patients p ON p.id = a.patient_id JOIN doctors d ON d.id = a.doctor_id ORDER BY a.id`,
    );
    expect(rows).toEqual([
      {
        id: SCHEDULED,
        status: "scheduled",
        eligibility: "covered",
        version: 1,
        insurance_member_id: "MEMBER-1",
        doctor_version: 1,
        schedules: 1,
      },
      {
        id: CANCELLED,
        status: "cancelled",
        eligibility: null,
        version: 1,
        insurance_member_id: "MEMBER-1",
        doctor_version: 1,
        schedules: 1,
      },
      {
        id: COMPLETED,
        status: "completed",
        eligibility: null,
        version: 1,
        insurance_member_id: "MEMBER-1",
        doctor_version: 1,
        schedules: 0,
      },
    ]);
  });

  it("backfills one history event per existing appointment, carrying its current state", async () => {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT e.appointment_id, e.event::text, e.status::text, e.starts_at = a.starts_at AND e.ends_at = a.ends_at AS same_slot,
              e.version, e.at = $1::timestamptz AS at_last_change, e.request_id
       FROM appointment_events e JOIN appointments a ON a.id = e.appointment_id ORDER BY e.appointment_id`,
      [UPDATED_AT],
    );
    const event = (appointment_id: string, kind: string, status: string) => ({
      appointment_id,
      event: kind,
      status,
      same_slot: true,
      version: 1,
      at_last_change: true,
      request_id: null,
    });
    expect(rows).toEqual([
      event(SCHEDULED, "booked", "scheduled"),
      event(CANCELLED, "cancelled", "cancelled"),
      event(COMPLETED, "completed", "completed"),
    ]);
  });

  it("versions and records changes to the old rows: a reschedule is version 2 with a history event, a no-op changes nothing", async () => {
    await db.query("UPDATE appointments SET status = status WHERE id = $1", [SCHEDULED]);
    const moved = await db.query<{ version: number }>(
      "UPDATE appointments SET ends_at = ends_at + interval '15 minutes' WHERE id = $1 RETURNING version",
      [SCHEDULED],
    );
    expect(moved.rows).toEqual([{ version: 2 }]);
    const { rows } = await db.query<{ event: string; version: number }>(
      "SELECT event::text, version FROM appointment_events WHERE appointment_id = $1 ORDER BY id",
      [SCHEDULED],
    );
    expect(rows).toEqual([
      { event: "booked", version: 1 },
      { event: "rescheduled", version: 2 },
    ]);
  });

  it("refuses an appointment overlapping an old scheduled one of the same doctor; the old cancelled one blocks nothing", async () => {
    const insert = (id: string, startsAt: string, endsAt: string) =>
      db.query("INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)", [
        id,
        DOCTOR_A,
        PATIENT,
        startsAt,
        endsAt,
      ]);
    await expect(
      insert("00000000-0000-4000-8000-0000000000b1", "2027-01-04T10:45Z", "2027-01-04T11:05Z"),
    ).rejects.toMatchObject({ code: "23P01", constraint: "appointments_no_overlap" });
    // Only the cancelled appointment covers 11:15-11:30 (the scheduled one now ends at 11:15).
    await insert("00000000-0000-4000-8000-0000000000b2", "2027-01-04T11:15Z", "2027-01-04T11:30Z");
  });
});
