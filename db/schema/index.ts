export * from "./appointments.ts";
export * from "./doctors.ts";
export * from "./patients.ts";
export * from "./relations.ts";
export * from "./schedules.ts";
export * from "./appointment-events.ts";
export * from "./idempotency-keys.ts";
export * from "./insurance-member-id-changes.ts";
