/**
 * The schema-change incident's migrations, renaming doctors.specialty to doctors.speciality two
 * ways: at once (breaking), or expand/contract. And the way back to the schema drizzle/ made.
 */
import type pg from "pg";

/** Breaking: the running version's statements name a column that is gone. */
export const RENAME = "ALTER TABLE doctors RENAME COLUMN specialty TO speciality";

/**
 * Expand: the new column beside the old one, a trigger keeping both in step whichever version
 * writes (a write through either is read by the other), then the backfill and the new column's
 * index. NOT NULL comes with the contract.
 */
export const EXPAND = `BEGIN;
ALTER TABLE doctors ADD COLUMN speciality text;
CREATE FUNCTION doctors_sync_speciality() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.speciality := coalesce(NEW.speciality, NEW.specialty);
    NEW.specialty := coalesce(NEW.specialty, NEW.speciality);
  ELSIF NEW.specialty IS DISTINCT FROM OLD.specialty THEN
    NEW.speciality := NEW.specialty;
  ELSIF NEW.speciality IS DISTINCT FROM OLD.speciality THEN
    NEW.specialty := NEW.speciality;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER doctors_sync_speciality BEFORE INSERT OR UPDATE ON doctors
  FOR EACH ROW EXECUTE FUNCTION doctors_sync_speciality();
UPDATE doctors SET speciality = specialty;
CREATE INDEX doctors_speciality_name_id_idx ON doctors (speciality, name, id);
COMMIT;`;

/** Contract, once no running version reads or writes the old column: the trigger and the column go. */
export const CONTRACT = `BEGIN;
DROP TRIGGER doctors_sync_speciality ON doctors;
DROP FUNCTION doctors_sync_speciality();
ALTER TABLE doctors DROP COLUMN specialty;
ALTER TABLE doctors ALTER COLUMN speciality SET NOT NULL;
COMMIT;`;

/** Back to the schema the migrations made, from whatever a variant left (its index and constraint too). */
export async function resetSchema(monitor: pg.Client): Promise<void> {
  await monitor.query(`BEGIN;
DROP TRIGGER IF EXISTS doctors_sync_speciality ON doctors;
DROP FUNCTION IF EXISTS doctors_sync_speciality();
DROP INDEX IF EXISTS doctors_speciality_name_id_idx;
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'doctors' AND column_name = 'speciality') THEN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'doctors' AND column_name = 'specialty') THEN
      ALTER TABLE doctors DROP COLUMN speciality;
    ELSE
      ALTER TABLE doctors RENAME COLUMN speciality TO specialty;
    END IF;
  END IF;
END $$;
ALTER TABLE doctors ALTER COLUMN specialty SET NOT NULL;
CREATE INDEX IF NOT EXISTS doctors_specialty_name_id_idx ON doctors (specialty, name, id);
COMMIT;`);
}
