import { boolean, index, pgTable, text } from "drizzle-orm/pg-core";
import { id, timestamps, version } from "./columns.ts";

export const doctors = pgTable(
  "doctors",
  {
    id: id(),
    name: text("name").notNull(),
    specialty: text("specialty").notNull(),
    active: boolean("active").notNull().default(true),
    ...timestamps(),
    ...version(),
  },
  (t) => [
    // The list endpoint pages by (name, id) and filters by specialty/active.
    index("doctors_name_id_idx").on(t.name, t.id),
    index("doctors_specialty_name_id_idx").on(t.specialty, t.name, t.id),
  ],
);

export type DoctorRow = typeof doctors.$inferSelect;
