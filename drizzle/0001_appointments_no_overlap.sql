-- Custom migration (drizzle-kit generate --custom): drizzle-kit cannot express EXCLUDE constraints.
-- The database itself refuses two non-cancelled appointments of one doctor whose [starts_at, ends_at)
-- ranges overlap; back-to-back appointments (one ends when the next starts) are allowed.
-- btree_gist lets the GiST index compare doctor_id with =; it is a trusted extension (PG 13+),
-- available on Neon, on Debian's PostgreSQL and in embedded-postgres.
CREATE EXTENSION IF NOT EXISTS btree_gist;--> statement-breakpoint
ALTER TABLE "appointments" ADD CONSTRAINT "appointments_no_overlap"
  EXCLUDE USING gist ("doctor_id" WITH =, tstzrange("starts_at", "ends_at", '[)') WITH &&)
  WHERE ("status" <> 'cancelled');
