/**
 * `npm run db:seed [-- --reset]`: fills an empty database with the demo clinic. Refuses to touch a
 * database that already has doctors unless --reset is given (which empties the three tables first).
 */
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { appointments, doctorSchedules, doctors, patients } from "../db/schema/index.ts";
import { databaseUrl } from "./local.ts";
import { seedData } from "./seed-data.ts";

const BATCH = 1_000;

export async function seedIfEmpty(
  url: string,
  reset = false,
): Promise<{ seeded: boolean; counts?: Record<string, number> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const db = drizzle({ client });
    return await db.transaction(async (tx) => {
      // Two dev starts racing on a fresh database must not both seed.
      await tx.execute(sql`SELECT pg_advisory_xact_lock(727275)`);
      if (reset)
        await tx.execute(
          sql`TRUNCATE appointment_events, appointments, doctor_schedules, patients, doctors, idempotency_keys`,
        );
      const [row] = await tx.select({ n: sql<number>`count(*)::int` }).from(doctors);
      if ((row?.n ?? 0) > 0) return { seeded: false };
      const data = seedData();
      await tx.insert(doctors).values(data.doctors);
      await tx.insert(doctorSchedules).values(data.schedules);
      await tx.insert(patients).values(data.patients);
      for (let i = 0; i < data.appointments.length; i += BATCH) {
        await tx.insert(appointments).values(data.appointments.slice(i, i + BATCH));
      }
      return {
        seeded: true,
        counts: {
          doctors: data.doctors.length,
          schedules: data.schedules.length,
          patients: data.patients.length,
          appointments: data.appointments.length,
        },
      };
    });
  } finally {
    await client.end();
  }
}

if (import.meta.main) {
  const result = await seedIfEmpty(databaseUrl(), process.argv.includes("--reset"));
  if (result.seeded) console.log("seeded:", result.counts);
  else console.log("database already has doctors; nothing seeded (use `npm run db:seed -- --reset` to start over)");
}
