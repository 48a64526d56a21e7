import { bigint, index, integer, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { appointmentStatus, appointments } from "./appointments.ts";

export const appointmentEvent = pgEnum("appointment_event", ["booked", "rescheduled", "cancelled", "completed"]);

/**
 * The appointment's history, append-only. Rows are written by a trigger on `appointments`
 * (migration 0005) in the transaction that changes the appointment, so the history cannot
 * disagree with the row, whichever code path made the change; another trigger refuses UPDATE and
 * DELETE here. Each row is the appointment as it was right after the change.
 */
export const appointmentEvents = pgTable(
  "appointment_events",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    appointmentId: uuid("appointment_id")
      .notNull()
      .references(() => appointments.id, { onDelete: "restrict" }),
    event: appointmentEvent("event").notNull(),
    status: appointmentStatus("status").notNull(),
    startsAt: timestamp("starts_at", { withTimezone: true, mode: "date" }).notNull(),
    endsAt: timestamp("ends_at", { withTimezone: true, mode: "date" }).notNull(),
    /** The appointment's version after the change. */
    version: integer("version").notNull(),
    /** The server's id of the request that made the change; null for changes made outside the API. */
    requestId: text("request_id"),
    /** The X-Request-Id its client sent, if any: the client's word, kept apart. */
    clientRequestId: text("client_request_id"),
    /** Who made it: the token's role and subject; null for anonymous or outside the API. */
    actorRole: text("actor_role"),
    actorSub: text("actor_sub"),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("appointment_events_appointment_idx").on(t.appointmentId, t.id)],
);

export type AppointmentEventRow = typeof appointmentEvents.$inferSelect;
export type AppointmentEventKind = (typeof appointmentEvent.enumValues)[number];
