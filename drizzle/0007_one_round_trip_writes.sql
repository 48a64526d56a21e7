-- Custom migration (drizzle-kit generate --custom): drizzle-kit cannot express functions.
--
-- The writes whose next step depends on an answer (claim the idempotency key, lock the doctor,
-- check the rules, then write) as SQL functions: the Worker sends the request's values in one
-- statement over the HTTP path and gets the whole outcome back, so a booking or a reschedule costs
-- one round trip to the database instead of a WebSocket connection and a statement per step.
-- Each runs inside the round trip's transaction, after its SET LOCAL statement_timeout.
--
-- A refusal that must undo what the function already did (the key's claim) is raised with
-- SQLSTATE CE001, the reason as its message: the whole transaction rolls back, nothing is stored,
-- and db/errors.ts turns it back into the reason. 23P01 (the exclusion constraint) and 55P03 (the
-- key's lock wait ran out) are raised by Postgres itself, as before.

-- True when [starts_at, ends_at) lies inside one of the doctor's working intervals for that (UTC)
-- weekday, or when the doctor has no schedule at all (then any time is bookable).
CREATE FUNCTION within_working_hours(p_doctor_id uuid, p_starts_at timestamptz, p_ends_at timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT NOT EXISTS (SELECT 1 FROM doctor_schedules WHERE doctor_id = p_doctor_id)
      OR EXISTS (
        SELECT 1 FROM doctor_schedules s
        WHERE s.doctor_id = p_doctor_id
          AND s.weekday = extract(dow FROM p_starts_at AT TIME ZONE 'UTC')
          AND (p_starts_at AT TIME ZONE 'UTC')::date + s.starts_at <= p_starts_at AT TIME ZONE 'UTC'
          AND (p_starts_at AT TIME ZONE 'UTC')::date + s.ends_at >= p_ends_at AT TIME ZONE 'UTC'
      )
$$;--> statement-breakpoint

-- Claims an idempotency key in the caller's transaction, before its write; NULL when claimed.
-- A row whose transaction is still open makes the INSERT wait for it (bounded by lock_timeout =
-- p_wait_ms: 55P03 when it runs out); a committed, unexpired row is returned (to_jsonb) instead,
-- read with a fresh snapshot, so it is the outcome the first request stored; an expired row is
-- taken over, as if there were none.
CREATE FUNCTION claim_idempotency_key(
  p_caller text, p_scope text, p_key text, p_request_hash text, p_ttl_seconds integer, p_wait_ms integer
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_claimed integer;
  v_existing jsonb;
BEGIN
  -- lock_timeout 0 means no limit: keep at least 1 ms so "do not wait" stays bounded.
  PERFORM set_config('lock_timeout', greatest(p_wait_ms, 1)::text, true);
  INSERT INTO idempotency_keys AS k
    (caller, scope, key, request_hash, response_status, response_body, response_headers, stored_as, expires_at)
  VALUES (p_caller, p_scope, p_key, p_request_hash, 0, '', '{}', 'response', now() + make_interval(secs => p_ttl_seconds))
  ON CONFLICT (caller, scope, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, response_status = 0, response_body = '', response_headers = '{}',
        stored_as = 'response', created_at = now(), expires_at = EXCLUDED.expires_at
    WHERE k.expires_at <= now();
  GET DIAGNOSTICS v_claimed = ROW_COUNT;
  PERFORM set_config('lock_timeout', '0', true);
  IF v_claimed > 0 THEN
    RETURN NULL;
  END IF;
  SELECT to_jsonb(k) INTO v_existing FROM idempotency_keys k
  WHERE k.caller = p_caller AND k.scope = p_scope AND k.key = p_key;
  RETURN v_existing;
END
$$;--> statement-breakpoint

-- Fills in the claimed key's answer: the created row and the route's context (stored_as = 'row',
-- see db/schema/idempotency-keys.ts), which the route formats for a replay.
CREATE FUNCTION store_idempotent_answer(
  p_caller text, p_scope text, p_key text, p_status integer, p_answer jsonb
) RETURNS void LANGUAGE sql AS $$
  UPDATE idempotency_keys SET response_status = p_status, response_body = p_answer::text, stored_as = 'row'
  WHERE caller = p_caller AND scope = p_scope AND key = p_key
$$;--> statement-breakpoint

-- A booking, whole: the key's claim (when p_key is set), the doctor locked FOR NO KEY UPDATE (so
-- one doctor's bookings and reschedules run one after another: an overlap then fails cleanly with
-- 23P01 instead of a deadlock, and a concurrent deactivation waits), the rules in the order the API
-- reports them, the insert (its history row is written by the trigger), the stored answer.
-- Returns {"replay": <key row>} or {"booked": {"row": <appointment>, "context": p_context}}.
-- 'eligibility-needed' (the patient has an insurance member id, DETAIL, and p_eligibility_checked
-- is false) sends the Worker to the insurer; it then calls again with the answer.
-- The patient is locked too (after the doctor: every writer takes them in that order), so one
-- patient's concurrent bookings with different doctors count their upcoming appointments one after
-- another: 'too-many-upcoming' (DETAIL: the limit) once p_max_upcoming are scheduled ahead.
CREATE FUNCTION book_appointment(
  p_doctor_id uuid, p_patient_id uuid, p_starts_at timestamptz, p_ends_at timestamptz,
  p_eligibility_checked boolean, p_eligibility eligibility, p_context jsonb, p_max_upcoming integer,
  p_caller text, p_scope text, p_key text, p_request_hash text, p_ttl_seconds integer, p_wait_ms integer
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_replay jsonb;
  v_active boolean;
  v_in_hours boolean;
  v_patient_found boolean;
  v_member text;
  v_upcoming integer;
  v_refusal text;
  v_booked appointments;
  v_answer jsonb;
BEGIN
  IF p_key IS NOT NULL THEN
    v_replay := claim_idempotency_key(p_caller, p_scope, p_key, p_request_hash, p_ttl_seconds, p_wait_ms);
    IF v_replay IS NOT NULL THEN
      RETURN jsonb_build_object('replay', v_replay);
    END IF;
  END IF;
  SELECT d.active, within_working_hours(d.id, p_starts_at, p_ends_at) INTO v_active, v_in_hours
  FROM doctors d WHERE d.id = p_doctor_id FOR NO KEY UPDATE;
  SELECT true, p.insurance_member_id INTO v_patient_found, v_member
  FROM patients p WHERE p.id = p_patient_id FOR NO KEY UPDATE;
  SELECT count(*) INTO v_upcoming FROM appointments a
  WHERE a.patient_id = p_patient_id AND a.status = 'scheduled' AND a.ends_at > now();
  v_refusal := CASE
    WHEN v_active IS NULL THEN 'doctor-not-found'
    WHEN NOT v_active THEN 'doctor-inactive'
    WHEN v_patient_found IS NULL THEN 'patient-not-found'
    WHEN NOT v_in_hours THEN 'outside-hours'
    WHEN v_upcoming >= p_max_upcoming THEN 'too-many-upcoming'
    WHEN v_member IS NOT NULL AND NOT p_eligibility_checked THEN 'eligibility-needed'
  END;
  IF v_refusal = 'too-many-upcoming' THEN
    RAISE EXCEPTION USING ERRCODE = 'CE001', MESSAGE = v_refusal, DETAIL = p_max_upcoming::text;
  END IF;
  IF v_refusal IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'CE001', MESSAGE = v_refusal, DETAIL = coalesce(v_member, '');
  END IF;
  INSERT INTO appointments (doctor_id, patient_id, starts_at, ends_at, eligibility)
  VALUES (p_doctor_id, p_patient_id, p_starts_at, p_ends_at, CASE WHEN v_member IS NULL THEN NULL ELSE p_eligibility END)
  RETURNING * INTO v_booked;
  v_answer := jsonb_build_object('row', to_jsonb(v_booked), 'context', p_context);
  IF p_key IS NOT NULL THEN
    PERFORM store_idempotent_answer(p_caller, p_scope, p_key, 201, v_answer);
  END IF;
  RETURN jsonb_build_object('booked', v_answer);
END
$$;--> statement-breakpoint

-- A reschedule, whole: the appointment locked FOR UPDATE, its owner (p_patient_id / p_doctor_id,
-- NULL for none: a row of someone else's is "not found"), its version against If-Match (p_versions,
-- NULL for *), its status, the doctor locked as for a booking and their hours, the update (history
-- by the trigger; the exclusion constraint refuses an overlap with 23P01).
-- Returns {"moved": <row>, "previous": <row>} or {"refused": <reason>, "current": <row or null>};
-- nothing is written before a refusal, so none needs rolling back.
CREATE FUNCTION reschedule_appointment(
  p_id uuid, p_starts_at timestamptz, p_ends_at timestamptz, p_versions integer[],
  p_patient_id uuid, p_doctor_id uuid
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_current appointments;
  v_active boolean;
  v_in_hours boolean;
  v_moved appointments;
BEGIN
  SELECT * INTO v_current FROM appointments a WHERE a.id = p_id FOR UPDATE;
  IF NOT FOUND OR v_current.patient_id <> coalesce(p_patient_id, v_current.patient_id)
     OR v_current.doctor_id <> coalesce(p_doctor_id, v_current.doctor_id) THEN
    RETURN jsonb_build_object('refused', 'not-found', 'current', NULL);
  END IF;
  IF p_versions IS NOT NULL AND NOT (v_current.version = ANY (p_versions)) THEN
    RETURN jsonb_build_object('refused', 'stale', 'current', to_jsonb(v_current));
  END IF;
  IF v_current.status <> 'scheduled' THEN
    RETURN jsonb_build_object('refused', 'not-scheduled', 'current', to_jsonb(v_current));
  END IF;
  SELECT d.active, within_working_hours(d.id, p_starts_at, p_ends_at) INTO v_active, v_in_hours
  FROM doctors d WHERE d.id = v_current.doctor_id FOR NO KEY UPDATE;
  IF NOT FOUND OR NOT v_active THEN
    RETURN jsonb_build_object('refused', 'doctor-inactive', 'current', to_jsonb(v_current));
  END IF;
  IF NOT v_in_hours THEN
    RETURN jsonb_build_object('refused', 'outside-hours', 'current', to_jsonb(v_current));
  END IF;
  UPDATE appointments SET starts_at = p_starts_at, ends_at = p_ends_at WHERE id = p_id RETURNING * INTO v_moved;
  RETURN jsonb_build_object('moved', to_jsonb(v_moved), 'previous', to_jsonb(v_current));
END
$$;
--> statement-breakpoint

-- A create sent with an Idempotency-Key, whole: the key's claim, the insert of p_values (column
-- name -> value, as jsonb_populate_record reads them; columns left out take their defaults) into
-- p_table, the stored answer. Returns {"replay": <key row>} or {"created": {"row", "context"}}.
-- The table comes from the Worker's own schema, never from a request; column names are quoted.
CREATE FUNCTION create_idempotently(
  p_table regclass, p_values jsonb, p_context jsonb,
  p_caller text, p_scope text, p_key text, p_request_hash text, p_ttl_seconds integer, p_wait_ms integer
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_replay jsonb;
  v_columns text;
  v_row jsonb;
  v_answer jsonb;
BEGIN
  v_replay := claim_idempotency_key(p_caller, p_scope, p_key, p_request_hash, p_ttl_seconds, p_wait_ms);
  IF v_replay IS NOT NULL THEN
    RETURN jsonb_build_object('replay', v_replay);
  END IF;
  SELECT string_agg(format('%I', k), ', ') INTO v_columns FROM jsonb_object_keys(p_values) AS k;
  EXECUTE format(
    'INSERT INTO %s AS t (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $1) RETURNING to_jsonb(t)',
    p_table, v_columns, v_columns, p_table
  ) INTO v_row USING p_values;
  v_answer := jsonb_build_object('row', v_row, 'context', p_context);
  PERFORM store_idempotent_answer(p_caller, p_scope, p_key, 201, v_answer);
  RETURN jsonb_build_object('created', v_answer);
END
$$;
