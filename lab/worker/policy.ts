/** The lab Worker's routes, keyed as THE policy (functions/auth/policy.ts) keys operations: admins only. */
export const LAB_POLICY = {
  "GET /__lab/doctors-with-appointments": { allow: ["admin"] },
  "GET /__lab/remember": { allow: ["admin"] },
  "GET /__lab/hold-lock": { allow: ["admin"] },
  "GET /__lab/eligibility-unguarded": { allow: ["admin"] },
  "GET /__lab/availability-direct": { allow: ["admin"] },
  "POST /__lab/deploy": { allow: ["admin"] },
  "GET /__lab/availability-read": { allow: ["admin"] },
  "GET /__lab/v2/doctors": { allow: ["admin"] },
  "PATCH /__lab/v2/doctors/{id}": { allow: ["admin"] },
} as const;
