ALTER TABLE "appointment_events" ADD COLUMN "client_request_id" text;--> statement-breakpoint
ALTER TABLE "appointment_events" ADD COLUMN "actor_role" text;--> statement-breakpoint
ALTER TABLE "appointment_events" ADD COLUMN "actor_sub" text;--> statement-breakpoint
-- The history records who made each change: the Worker sets clinic_edge.* (core/audit.ts) for the
-- transaction in the same round trip as the change. request_id is the server's id of the request;
-- the client's X-Request-Id goes to client_request_id only (before, application_name carried the
-- client's id into request_id, so a client could name its change after another request).
CREATE OR REPLACE FUNCTION record_appointment_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kind appointment_event;
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
  INSERT INTO appointment_events
    (appointment_id, event, status, starts_at, ends_at, version, request_id, client_request_id, actor_role, actor_sub)
  VALUES (NEW.id, kind, NEW.status, NEW.starts_at, NEW.ends_at, NEW.version,
          nullif(current_setting('clinic_edge.request_id', true), ''),
          nullif(current_setting('clinic_edge.client_request_id', true), ''),
          nullif(current_setting('clinic_edge.actor_role', true), ''),
          nullif(current_setting('clinic_edge.actor_sub', true), ''));
  RETURN NULL;
END
$$;
