import { z } from "@hono/zod-openapi";
import type { ScheduleRow } from "../../../db/schema/index.ts";

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;
const Time = z.string().regex(TIME, "must be a time of day as HH:MM (UTC)").openapi({ example: "09:00" });

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export const ScheduleIntervalSchema = z
  .object({
    weekday: z.number().int().min(0).max(6).openapi({ description: "0 = Sunday ... 6 = Saturday" }),
    startsAt: Time,
    endsAt: Time,
    slotMinutes: z.number().int().min(5).max(240).default(30),
  })
  .strict()
  .superRefine((v, ctx) => {
    // zod still runs this when a time failed its own check: compare only valid times.
    if (!TIME.test(v.startsAt) || !TIME.test(v.endsAt)) return;
    const span = minutes(v.endsAt) - minutes(v.startsAt);
    if (span <= 0) ctx.addIssue({ code: "custom", path: ["endsAt"], message: "must be after startsAt" });
    else if (span < v.slotMinutes)
      ctx.addIssue({ code: "custom", path: ["endsAt"], message: "interval is shorter than one slot" });
  })
  .openapi("ScheduleInterval");

export const ReplaceScheduleSchema = z
  .object({ intervals: z.array(ScheduleIntervalSchema).max(50) })
  .strict()
  .superRefine((v, ctx) => {
    // Intervals of one weekday must not overlap: each slot belongs to exactly one interval.
    const sorted = v.intervals
      .map((iv, index) => ({ ...iv, index }))
      .sort((a, b) => a.weekday - b.weekday || minutes(a.startsAt) - minutes(b.startsAt));
    for (let i = 1; i < sorted.length; i++) {
      const [prev, cur] = [sorted[i - 1]!, sorted[i]!];
      if (prev.weekday === cur.weekday && minutes(cur.startsAt) < minutes(prev.endsAt)) {
        ctx.addIssue({
          code: "custom",
          path: ["intervals", cur.index, "startsAt"],
          message: "overlaps another interval of the same weekday",
        });
      }
    }
  })
  .openapi("ReplaceSchedule", {
    example: { intervals: [{ weekday: 1, startsAt: "09:00", endsAt: "12:00", slotMinutes: 30 }] },
  });

export const ScheduleSchema = z
  .object({
    doctorId: z.uuid(),
    intervals: z.array(
      z.object({ weekday: z.number().int(), startsAt: z.string(), endsAt: z.string(), slotMinutes: z.number().int() }),
    ),
  })
  .openapi("Schedule");

export function toSchedule(doctorId: string, rows: ScheduleRow[]): z.infer<typeof ScheduleSchema> {
  return {
    doctorId,
    intervals: rows.map((r) => ({
      weekday: r.weekday,
      startsAt: r.startsAt.slice(0, 5),
      endsAt: r.endsAt.slice(0, 5),
      slotMinutes: r.slotMinutes,
    })),
  };
}

export const AvailabilityQuery = z.object({
  date: z.iso.date().openapi({ example: "2026-12-01", description: "The day (UTC) to list free slots for" }),
});

export const AvailabilitySchema = z
  .object({
    doctorId: z.uuid(),
    date: z.string().openapi({ format: "date" }),
    slots: z.array(
      z.object({
        startsAt: z.string().openapi({ format: "date-time" }),
        endsAt: z.string().openapi({ format: "date-time" }),
      }),
    ),
  })
  .openapi("Availability");
