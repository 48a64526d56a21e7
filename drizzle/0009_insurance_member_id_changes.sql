CREATE TABLE "insurance_member_id_changes" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "insurance_member_id_changes_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"patient_id" uuid NOT NULL,
	"old_member_id" text,
	"new_member_id" text,
	"actor_role" text,
	"actor_sub" text,
	"request_id" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "insurance_member_id_changes" ADD CONSTRAINT "insurance_member_id_changes_patient_id_patients_id_fk" FOREIGN KEY ("patient_id") REFERENCES "public"."patients"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "insurance_member_id_changes_patient_at_idx" ON "insurance_member_id_changes" USING btree ("patient_id","at");--> statement-breakpoint
CREATE UNIQUE INDEX "patients_insurance_member_id_key" ON "patients" USING btree ("insurance_member_id") WHERE "patients"."insurance_member_id" is not null;--> statement-breakpoint
-- Custom: who binds a member id to a patient, and how often a patient may change their own.
--
-- Every change of patients.insurance_member_id (on insert too) is recorded with the actor and the
-- server's request id the Worker sets for the transaction (clinic_edge.*, core/audit.ts). A change
-- made by anyone but an admin (or outside the API) is refused with SQLSTATE CE001
-- 'member-id-changes-exhausted' once clinic_edge.member_id_changes_per_day such changes of this
-- patient lie in the last 24 hours; DETAIL: "<limit> <seconds until the oldest leaves the day>".
-- Unset (writes from outside the Worker's PATCH): no limit. The trigger runs after the row is
-- updated, so it holds the patient's row lock: two concurrent changes of one patient count one
-- after the other (each statement of the function sees what committed before it), never both
-- under the limit. An admin's changes are recorded but neither limited nor counted.
CREATE FUNCTION record_insurance_member_id_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_role text := nullif(current_setting('clinic_edge.actor_role', true), '');
  v_limit integer := nullif(current_setting('clinic_edge.member_id_changes_per_day', true), '')::integer;
  v_count integer;
  v_oldest timestamptz;
BEGIN
  IF TG_OP = 'UPDATE' AND v_limit IS NOT NULL AND v_role IS DISTINCT FROM 'admin' THEN
    SELECT count(*), min(c.at) INTO v_count, v_oldest FROM insurance_member_id_changes c
    WHERE c.patient_id = NEW.id AND c.at > now() - interval '1 day' AND c.actor_role <> 'admin';
    IF v_count >= v_limit THEN
      RAISE EXCEPTION USING ERRCODE = 'CE001', MESSAGE = 'member-id-changes-exhausted',
        DETAIL = v_limit || ' ' || greatest(1, ceil(extract(epoch FROM v_oldest + interval '1 day' - now())))::bigint;
    END IF;
  END IF;
  INSERT INTO insurance_member_id_changes (patient_id, old_member_id, new_member_id, actor_role, actor_sub, request_id)
  VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.insurance_member_id END, NEW.insurance_member_id, v_role,
          nullif(current_setting('clinic_edge.actor_sub', true), ''),
          nullif(current_setting('clinic_edge.request_id', true), ''));
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER patients_insurance_member_id_changed
AFTER UPDATE OF insurance_member_id ON patients
FOR EACH ROW WHEN (OLD.insurance_member_id IS DISTINCT FROM NEW.insurance_member_id)
EXECUTE FUNCTION record_insurance_member_id_change();--> statement-breakpoint
CREATE TRIGGER patients_insurance_member_id_bound
AFTER INSERT ON patients
FOR EACH ROW WHEN (NEW.insurance_member_id IS NOT NULL)
EXECUTE FUNCTION record_insurance_member_id_change();
