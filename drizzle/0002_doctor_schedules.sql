CREATE TABLE "doctor_schedules" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"doctor_id" uuid NOT NULL,
	"weekday" smallint NOT NULL,
	"starts_at" time NOT NULL,
	"ends_at" time NOT NULL,
	"slot_minutes" smallint DEFAULT 30 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "doctor_schedules_doctor_weekday_starts_key" UNIQUE("doctor_id","weekday","starts_at"),
	CONSTRAINT "doctor_schedules_weekday" CHECK ("doctor_schedules"."weekday" BETWEEN 0 AND 6),
	CONSTRAINT "doctor_schedules_ends_after_starts" CHECK ("doctor_schedules"."ends_at" > "doctor_schedules"."starts_at"),
	CONSTRAINT "doctor_schedules_slot_minutes" CHECK ("doctor_schedules"."slot_minutes" BETWEEN 5 AND 240)
);
--> statement-breakpoint
ALTER TABLE "doctor_schedules" ADD CONSTRAINT "doctor_schedules_doctor_id_doctors_id_fk" FOREIGN KEY ("doctor_id") REFERENCES "public"."doctors"("id") ON DELETE cascade ON UPDATE no action;