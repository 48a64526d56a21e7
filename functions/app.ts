import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { documentSecurity } from "./auth/document-security.ts";
import { POLICY, type Policy } from "./auth/policy.ts";
import type { AppEnv } from "./env.ts";
import { docsPage } from "./http/docs-page.ts";
import { onError, problemResponse } from "./http/errors.ts";
import { authenticate, refuseInvalidToken } from "./middleware/authenticate.ts";
import { authorize } from "./middleware/authorize.ts";
import { corsFromConfig } from "./middleware/cors.ts";
import { database } from "./middleware/database.ts";
import { deadline } from "./middleware/deadline.ts";
import { limitBody } from "./middleware/limit-body.ts";
import { observe } from "./middleware/observe.ts";
import { rateLimit } from "./middleware/rate-limit.ts";
import { requestConfig } from "./middleware/request-config.ts";
import { requestIds } from "./middleware/request-id.ts";
import { requireJson } from "./middleware/require-json.ts";
import { securityHeaders } from "./middleware/security-headers.ts";
import { shedLoad } from "./middleware/shed-load.ts";
import { trace } from "./middleware/trace.ts";
import { appointmentsApp } from "./routes/appointments/index.ts";
import { doctorsApp } from "./routes/doctors/index.ts";
import { healthApp } from "./routes/health/index.ts";
import { debugApp, metricsApp } from "./routes/operations/index.ts";
import { patientsApp } from "./routes/patients/index.ts";

/** The OpenAPI document's top: what the generator does not derive from the routes. */
/** Not open source: an SPDX LicenseRef (OpenAPI 3.1 `identifier`, absent from the 3.0 types) names our own. */
const LICENSE = { name: "Proprietary", identifier: "LicenseRef-Proprietary" };

function documentHeader(c: Context<AppEnv>): Parameters<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>[0] {
  return {
    openapi: "3.1.0",
    info: {
      title: "clinic-edge",
      version: "0.1.0",
      description:
        "Clinic scheduling API (doctors, patients, appointments) on Cloudflare Workers and Postgres. " +
        "Errors are RFC 9457 problem details (application/problem+json). Authentication: bearer JWTs " +
        "(see each operation's `security`; operations without one are public).",
      license: LICENSE,
      contact: { name: "clinic-edge maintainers", url: "https://clinic-edge.dev" },
    },
    servers: [{ url: new URL(c.req.url).origin }],
    tags: [
      { name: "doctors", description: "Doctors, their weekly working hours and the free slots those give" },
      { name: "patients", description: "Patients and their insurance eligibility" },
      { name: "appointments", description: "Booking, rescheduling, cancelling and completing appointments" },
      { name: "operations", description: "Health, readiness, metrics and debugging views for operators" },
    ],
  };
}

export interface AppOptions {
  /** The access policy (tests pass their own to add a test-only route or prove a route without an entry is closed). */
  policy?: Policy;
}

/** The Worker's whole HTTP surface; shared by the entry point and the tests. */
export function newApp({ policy = POLICY }: AppOptions = {}): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.use("*", requestIds());
  app.use("*", observe());
  // Outside everything that may answer early (429, 503, 415, errors), so every answer has them.
  app.use("*", securityHeaders());
  app.use("*", requestConfig());
  // Preflights are answered here: before shedding and rate limiting, as they do no work.
  app.use("*", corsFromConfig());
  // Before any work is spent on a request the isolate cannot take.
  app.use("*", shedLoad());
  app.use("*", trace());
  app.use("*", deadline());
  // Before the body is read and the database opened: a refused request costs neither.
  app.use("*", authenticate());
  // After authentication, so callers are counted by principal (an invalid token's sender by its
  // address); before authorization, so refused attempts count too.
  app.use("*", rateLimit());
  app.use("*", refuseInvalidToken());
  app.use("*", authorize(policy));
  // Refuse what will not be read before reading it: wrong media type, then too large.
  app.use("*", requireJson());
  app.use("*", limitBody());
  app.use("*", database());

  app.route("/", healthApp);
  app.route("/", metricsApp);
  app.route("/", debugApp);
  app.route("/doctors", doctorsApp);
  app.route("/patients", patientsApp);
  app.route("/appointments", appointmentsApp);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "A JWT with `sub`, `role` (admin, doctor, patient) and `exp`; `npm run token` mints one locally.",
  });
  // Generated like doc31 does, then each operation's `security` and 401/403 answers come from the
  // policy table, so the contract cannot disagree with what is enforced.
  app.get("/openapi.json", (c) => c.json(documentSecurity(app.getOpenAPI31Document(documentHeader(c)), policy)));
  app.get("/docs", docsPage);

  app.notFound((c) => problemResponse(c, "not-found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError(onError);
  return app;
}
