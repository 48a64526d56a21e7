import { z } from "@hono/zod-openapi";

export const EligibilityQuerySchema = z.object({
  date: z.iso
    .date()
    .optional()
    .openapi({ example: "2026-12-01", description: "The service date (UTC) to ask about; default today" }),
});

export const EligibilitySchema = z
  .object({
    patientId: z.uuid(),
    insuranceMemberId: z.string(),
    date: z.string().openapi({ format: "date" }),
    eligibility: z.enum(["covered", "not_covered"]),
  })
  .openapi("Eligibility");
