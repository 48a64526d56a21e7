CREATE TYPE "public"."eligibility" AS ENUM('covered', 'not_covered', 'unknown');--> statement-breakpoint
ALTER TABLE "appointments" ADD COLUMN "eligibility" "eligibility";--> statement-breakpoint
ALTER TABLE "patients" ADD COLUMN "insurance_member_id" text;