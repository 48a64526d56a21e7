import { sql } from "drizzle-orm";
import { check, pgTable, smallint, time, unique, uuid } from "drizzle-orm/pg-core";
import { id, timestamps } from "./columns.ts";
import { doctors } from "./doctors.ts";

/**
 * A doctor's weekly working hours, in UTC: one row per interval (a day may have a morning and an
 * afternoon), cut into slots of `slot_minutes` for the availability endpoint.
 */
export const doctorSchedules = pgTable(
  "doctor_schedules",
  {
    id: id(),
    doctorId: uuid("doctor_id")
      .notNull()
      .references(() => doctors.id, { onDelete: "cascade" }),
    /** 0 = Sunday ... 6 = Saturday, as Postgres' extract(dow). */
    weekday: smallint("weekday").notNull(),
    startsAt: time("starts_at").notNull(),
    endsAt: time("ends_at").notNull(),
    slotMinutes: smallint("slot_minutes").notNull().default(30),
    ...timestamps(),
  },
  (t) => [
    check("doctor_schedules_weekday", sql`${t.weekday} BETWEEN 0 AND 6`),
    check("doctor_schedules_ends_after_starts", sql`${t.endsAt} > ${t.startsAt}`),
    check("doctor_schedules_slot_minutes", sql`${t.slotMinutes} BETWEEN 5 AND 240`),
    // Also the index the availability query uses (doctor_id, weekday).
    unique("doctor_schedules_doctor_weekday_starts_key").on(t.doctorId, t.weekday, t.startsAt),
  ],
);

export type ScheduleRow = typeof doctorSchedules.$inferSelect;
