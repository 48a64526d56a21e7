import { createRoute, z } from "@hono/zod-openapi";
import type { AppointmentEventRow, AppointmentRow } from "../../../db/schema/index.ts";
import { iso } from "../../../core/dates.ts";
import { UNKNOWN_REASONS, type UnknownReason } from "../../insurance/eligibility.ts";
import {
  CursorQuery,
  IdParam,
  IfMatchHeaders,
  Instant,
  LimitQuery,
  commonErrors,
  conflict,
  notFound,
  page,
  staleVersion,
  versionedResponse,
} from "../../http/openapi.ts";

export const STATUSES = ["scheduled", "cancelled", "completed"] as const;
export const ELIGIBILITIES = ["covered", "not_covered", "unknown"] as const;

export const AppointmentSchema = z
  .object({
    id: z.uuid(),
    doctorId: z.uuid(),
    patientId: z.uuid(),
    startsAt: z.string().openapi({ format: "date-time" }),
    endsAt: z.string().openapi({ format: "date-time" }),
    status: z.enum(STATUSES),
    eligibility: z
      .enum(ELIGIBILITIES)
      .nullable()
      .openapi({
        description:
          "The insurer's answer at booking time for the visit's date: `unknown` when it could not be asked " +
          "(circuit breaker open, call failed or too slow); null when the patient had no insurance member id.",
      }),
    version: z.number().int().openapi({ description: "Raised by every change; the ETag is this number in quotes" }),
    createdAt: z.string().openapi({ format: "date-time" }),
    updatedAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("Appointment");

export type Appointment = z.infer<typeof AppointmentSchema>;

/** Rows from a plain select carry Dates; rows aggregated to JSON by a relational query carry text. */
type AppointmentLike = Omit<AppointmentRow, "startsAt" | "endsAt" | "createdAt" | "updatedAt"> &
  Record<"startsAt" | "endsAt" | "createdAt" | "updatedAt", Date | string>;

export function toAppointment(row: AppointmentLike): Appointment {
  return {
    id: row.id,
    doctorId: row.doctorId,
    patientId: row.patientId,
    startsAt: iso(row.startsAt),
    endsAt: iso(row.endsAt),
    status: row.status,
    eligibility: row.eligibility,
    version: row.version,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** The booking's answer: the appointment, and why its eligibility is unknown when it is. */
export const BookedAppointmentSchema = AppointmentSchema.extend({
  eligibilityReason: z
    .enum(UNKNOWN_REASONS)
    .nullable()
    .openapi({
      description:
        "Set only when `eligibility` is `unknown`: `breaker-open` (the insurer is failing and is not being " +
        "called for now), `upstream-failed` (the call failed or gave a malformed answer), `upstream-timeout` " +
        "(no answer in time), `not-configured` (this server has no insurer key). The booking itself is made either way.",
    }),
}).openapi("BookedAppointment");

export type BookedAppointment = z.infer<typeof BookedAppointmentSchema>;

export function toBookedAppointment(row: AppointmentRow, reason: UnknownReason | null): BookedAppointment {
  return { ...toAppointment(row), eligibilityReason: reason };
}

const MIN_DURATION_MS = 5 * 60_000;
const MAX_DURATION_MS = 8 * 3_600_000;
/** How far ahead a slot may be booked. */
export const MAX_LEAD_MS = 2 * 366 * 86_400_000;

/** Duration rules shared by booking and rescheduling; reported on endsAt. */
function checkDuration(v: { startsAt: string; endsAt: string }, ctx: z.RefinementCtx): void {
  const duration = Date.parse(v.endsAt) - Date.parse(v.startsAt);
  if (duration <= 0) ctx.addIssue({ code: "custom", path: ["endsAt"], message: "must be after startsAt" });
  else if (duration < MIN_DURATION_MS)
    ctx.addIssue({ code: "custom", path: ["endsAt"], message: "appointments last at least 5 minutes" });
  else if (duration > MAX_DURATION_MS)
    ctx.addIssue({ code: "custom", path: ["endsAt"], message: "appointments last at most 8 hours" });
}

export const BookAppointmentSchema = z
  .object({
    doctorId: z.uuid(),
    patientId: z.uuid(),
    startsAt: Instant,
    endsAt: Instant,
  })
  .strict()
  .superRefine(checkDuration)
  .openapi("BookAppointment", {
    example: {
      doctorId: "3f0c7a52-6a8f-4c56-9d43-1b7f5a0e8e21",
      patientId: "8d1e2b44-0c7a-4a57-9f3e-5b6a7c8d9e0f",
      startsAt: "2026-12-01T09:30:00Z",
      endsAt: "2026-12-01T10:00:00Z",
    },
  });

export const RescheduleAppointmentSchema = z
  .object({ startsAt: Instant, endsAt: Instant })
  .strict()
  .superRefine(checkDuration)
  .openapi("RescheduleAppointment", { example: { startsAt: "2026-12-02T14:00:00Z", endsAt: "2026-12-02T14:30:00Z" } });

export const AppointmentEventSchema = z
  .object({
    event: z.enum(["booked", "rescheduled", "cancelled", "completed"]),
    status: z.enum(STATUSES),
    startsAt: z.string().openapi({ format: "date-time" }),
    endsAt: z.string().openapi({ format: "date-time" }),
    version: z.number().int().openapi({ description: "The appointment's version after this change" }),
    requestId: z
      .string()
      .nullable()
      .openapi({ description: "The server's id of the request that made the change (its response's X-Request-Id)" }),
    clientRequestId: z
      .string()
      .nullable()
      .openapi({ description: "The X-Request-Id that request's client sent, if any (the client's word only)" }),
    actor: z
      .object({
        role: z.enum(["admin", "doctor", "patient"]),
        id: z.string().nullable().openapi({
          description: "The caller's token subject (a doctor's or patient's id); an admin's is shown to admins only",
        }),
      })
      .nullable()
      .openapi({ description: "Who made the change; null for changes made outside the API" }),
    at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("AppointmentEvent");

export const AppointmentHistorySchema = z
  .object({ appointmentId: z.uuid(), events: z.array(AppointmentEventSchema) })
  .openapi("AppointmentHistory");

export type AppointmentHistory = z.infer<typeof AppointmentHistorySchema>;

const ACTOR_ROLES = new Set(["admin", "doctor", "patient"]);

type Actor = { role: "admin" | "doctor" | "patient"; id: string | null };

function actorOf(r: AppointmentEventRow, viewerIsAdmin: boolean): Actor | null {
  if (!r.actorRole || !r.actorSub || !ACTOR_ROLES.has(r.actorRole)) return null;
  const role = r.actorRole as Actor["role"];
  // A staff member's subject (often an email at the identity provider) is not the patient's business.
  return { role, id: role === "admin" && !viewerIsAdmin ? null : r.actorSub };
}

export function toHistory(
  appointmentId: string,
  rows: AppointmentEventRow[],
  viewerIsAdmin: boolean,
): AppointmentHistory {
  return {
    appointmentId,
    events: rows.map((r) => ({
      event: r.event,
      status: r.status,
      startsAt: iso(r.startsAt),
      endsAt: iso(r.endsAt),
      version: r.version,
      requestId: r.requestId,
      clientRequestId: r.clientRequestId,
      actor: actorOf(r, viewerIsAdmin),
      at: iso(r.at),
    })),
  };
}

export const ListAppointmentsQuery = z
  .object({
    doctorId: z.uuid().optional(),
    patientId: z.uuid().optional(),
    status: z.enum(STATUSES).optional(),
    from: Instant.optional().openapi({ description: "Appointments starting at or after this instant" }),
    to: Instant.optional().openapi({ description: "Appointments starting before this instant" }),
    limit: LimitQuery,
    cursor: CursorQuery,
  })
  .superRefine((q, ctx) => {
    if (q.from && q.to && Date.parse(q.to) <= Date.parse(q.from)) {
      ctx.addIssue({ code: "custom", path: ["to"], message: "must be after from" });
    }
  });

export const AppointmentPage = page(AppointmentSchema, "AppointmentPage");

/** A state transition (cancel, complete): POST /{id}/<action>, If-Match optional, the appointment back. */
export function transitionRoute(action: "cancel" | "complete", summary: string, description: string, answer: string) {
  return createRoute({
    method: "post",
    path: `/{id}/${action}`,
    tags: ["appointments"],
    operationId: `${action}Appointment`,
    summary,
    description,
    request: { params: IdParam, headers: IfMatchHeaders },
    responses: {
      200: versionedResponse(AppointmentSchema, answer),
      ...commonErrors,
      ...notFound,
      ...conflict,
      ...staleVersion,
    },
  });
}
