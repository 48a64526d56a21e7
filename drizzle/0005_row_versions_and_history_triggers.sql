-- Custom migration (drizzle-kit generate --custom): drizzle-kit cannot express triggers.
--
-- 1. Row versions. Every UPDATE that changes a doctor, patient or appointment raises its `version`
--    by one and sets `updated_at`; an UPDATE that changes nothing leaves both alone. The version is
--    the ETag clients send back in If-Match, so it is kept by the database, not by each query.
CREATE FUNCTION bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version;
  NEW.updated_at := OLD.updated_at;
  IF NEW IS DISTINCT FROM OLD THEN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER doctors_version BEFORE UPDATE ON doctors FOR EACH ROW EXECUTE FUNCTION bump_row_version();--> statement-breakpoint
CREATE TRIGGER patients_version BEFORE UPDATE ON patients FOR EACH ROW EXECUTE FUNCTION bump_row_version();--> statement-breakpoint
CREATE TRIGGER appointments_version BEFORE UPDATE ON appointments FOR EACH ROW EXECUTE FUNCTION bump_row_version();--> statement-breakpoint

-- 2. Appointment history. Each booking, reschedule, cancellation and completion appends the
--    appointment's new state to appointment_events in the same transaction, whichever code path
--    made it. The request id comes from application_name ("clinic-edge:<request id>"), which every
--    connection of a request carries on both the HTTP and the WebSocket path.
CREATE FUNCTION record_appointment_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kind appointment_event;
  app text := current_setting('application_name', true);
BEGIN
  IF TG_OP = 'INSERT' THEN
    kind := 'booked';
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    kind := CASE NEW.status WHEN 'cancelled' THEN 'cancelled' WHEN 'completed' THEN 'completed' ELSE 'booked' END;
  ELSIF NEW.starts_at IS DISTINCT FROM OLD.starts_at OR NEW.ends_at IS DISTINCT FROM OLD.ends_at THEN
    kind := 'rescheduled';
  ELSE
    RETURN NULL;
  END IF;
  INSERT INTO appointment_events (appointment_id, event, status, starts_at, ends_at, version, request_id)
  VALUES (NEW.id, kind, NEW.status, NEW.starts_at, NEW.ends_at, NEW.version,
          CASE WHEN app LIKE 'clinic-edge:%' THEN substr(app, length('clinic-edge:') + 1) END);
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER appointments_history AFTER INSERT OR UPDATE ON appointments
  FOR EACH ROW EXECUTE FUNCTION record_appointment_event();--> statement-breakpoint

-- The history is append-only: rows are never changed or removed (TRUNCATE, an owner's
-- maintenance action, is left possible: the dev seed's reset uses it).
CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'appointment_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;--> statement-breakpoint
CREATE TRIGGER appointment_events_append_only BEFORE UPDATE OR DELETE ON appointment_events
  FOR EACH ROW EXECUTE FUNCTION refuse_history_change();--> statement-breakpoint

-- Appointments booked before the history existed get one event carrying their current state.
INSERT INTO appointment_events (appointment_id, event, status, starts_at, ends_at, version, at)
SELECT id, CASE status WHEN 'scheduled' THEN 'booked' ELSE status::text END::appointment_event,
       status, starts_at, ends_at, version, updated_at
FROM appointments;
