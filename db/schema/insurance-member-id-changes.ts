import { bigint, index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { patients } from "./patients.ts";

/**
 * Who bound which insurance member id to a patient, append-only. A member id lets the clinic ask
 * the insurer about someone's coverage with the clinic's key, so every change is recorded, and a
 * patient's own changes are limited per day (counted here). Rows are written by a trigger on
 * `patients` (migration 0009) in the transaction that changes the id, whichever code path made it.
 */
export const insuranceMemberIdChanges = pgTable(
  "insurance_member_id_changes",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    patientId: uuid("patient_id")
      .notNull()
      .references(() => patients.id, { onDelete: "cascade" }),
    /** Null: the patient had none (or was created with this one). */
    oldMemberId: text("old_member_id"),
    /** Null: cleared. */
    newMemberId: text("new_member_id"),
    /** Who made it: the token's role and subject; null for changes made outside the API. */
    actorRole: text("actor_role"),
    actorSub: text("actor_sub"),
    /** The server's id of the request that made the change. */
    requestId: text("request_id"),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [index("insurance_member_id_changes_patient_at_idx").on(t.patientId, t.at)],
);

export type InsuranceMemberIdChangeRow = typeof insuranceMemberIdChanges.$inferSelect;
