/**
 * The auth module on its own: the policy's decisions (functions/auth/policy.ts) and token
 * verification (functions/auth/verify.ts) without the Worker around them.
 */
import { env } from "cloudflare:workers";
import type { Context } from "hono";
import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import {
  POLICY,
  enforce,
  openApiPath,
  ownedOrNotFound,
  pathParams,
  scoped,
  type RequestFacts,
  type Rule,
} from "../../functions/auth/policy.ts";
import type { Principal } from "../../functions/auth/principal.ts";
import { verifyToken } from "../../functions/auth/verify.ts";
import { loadConfig, type AuthConfig } from "../../functions/config/index.ts";
import { Deadline } from "../../core/deadline.ts";
import type { AppEnv } from "../../functions/env.ts";
import { ApiError, ForbiddenError, NotFoundError, UnauthorizedError } from "../../functions/http/errors.ts";
import { tokenFor } from "../helpers/auth.ts";

const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";

function facts(principal: Principal | undefined, template: string, pathname: string, query = ""): RequestFacts {
  return { principal, template, pathname, query: new URLSearchParams(query) };
}

/** The status enforce() answers with (200 when it lets the request through). */
function decision(rule: Rule, f: RequestFacts): number {
  try {
    enforce(rule, f);
    return 200;
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

/** Just enough of a Hono context for the handler-side checks: the principal. */
const contextOf = (principal: Principal | undefined) => ({ var: { principal } }) as unknown as Context<AppEnv>;

describe("the policy table's decisions", () => {
  const patientProfile = POLICY["GET /patients/{id}"]!;

  it("lets anyone call a public operation, without a token", () => {
    expect(decision(POLICY["GET /doctors/{id}"]!, facts(undefined, "/doctors/{id}", `/doctors/${A}`))).toBe(200);
  });

  it("asks for a token (401) on a non-public operation called anonymously", () => {
    expect(() => enforce(patientProfile, facts(undefined, "/patients/{id}", `/patients/${A}`))).toThrow(
      UnauthorizedError,
    );
  });

  it("refuses a role the rule does not list with 403", () => {
    expect(() =>
      enforce(patientProfile, facts({ role: "doctor", sub: A }, "/patients/{id}", `/patients/${A}`)),
    ).toThrow(ForbiddenError);
  });

  it("answers 404 to a patient naming another patient in the path, as if it did not exist", () => {
    expect(() =>
      enforce(patientProfile, facts({ role: "patient", sub: B }, "/patients/{id}", `/patients/${A}`)),
    ).toThrow(NotFoundError);
    expect(decision(patientProfile, facts({ role: "patient", sub: A }, "/patients/{id}", `/patients/${A}`))).toBe(200);
  });

  it("lets an admin reach anyone's path", () => {
    expect(decision(patientProfile, facts({ role: "admin", sub: "ops" }, "/patients/{id}", `/patients/${A}`))).toBe(
      200,
    );
  });

  it("raises a public list to admins only when the query embeds appointments", () => {
    const rule = POLICY["GET /doctors"]!;
    expect(decision(rule, facts(undefined, "/doctors", "/doctors", "specialty=x"))).toBe(200);
    expect(decision(rule, facts(undefined, "/doctors", "/doctors", "include=appointments"))).toBe(401);
    expect(decision(rule, facts({ role: "patient", sub: A }, "/doctors", "/doctors", "include=appointments"))).toBe(
      403,
    );
    expect(decision(rule, facts({ role: "admin", sub: "ops" }, "/doctors", "/doctors", "include=appointments"))).toBe(
      200,
    );
  });

  it("admits the metrics token's role on /metrics and nowhere else", () => {
    const scraper: Principal = { role: "metrics", sub: "metrics-token" };
    expect(decision(POLICY["GET /metrics"]!, facts(scraper, "/metrics", "/metrics"))).toBe(200);
    expect(decision(POLICY["GET /patients"]!, facts(scraper, "/patients", "/patients"))).toBe(403);
    expect(decision(POLICY["GET /debug/inflight"]!, facts(scraper, "/debug/inflight", "/debug/inflight"))).toBe(403);
  });
});

describe("ownership after loading a row", () => {
  const row = { id: "x", patientId: A, doctorId: B };

  it("returns the row to its patient, its doctor and admins", () => {
    expect(ownedOrNotFound(contextOf({ role: "patient", sub: A }), row, "Appointment", "x")).toBe(row);
    expect(ownedOrNotFound(contextOf({ role: "doctor", sub: B }), row, "Appointment", "x")).toBe(row);
    expect(ownedOrNotFound(contextOf({ role: "admin", sub: "ops" }), row, "Appointment", "x")).toBe(row);
  });

  it("answers anyone else with the same 404 as a missing row", () => {
    expect(() => ownedOrNotFound(contextOf({ role: "patient", sub: B }), row, "Appointment", "x")).toThrow(
      NotFoundError,
    );
    expect(() => ownedOrNotFound(contextOf({ role: "doctor", sub: A }), row, "Appointment", "x")).toThrow(
      NotFoundError,
    );
    expect(() => ownedOrNotFound(contextOf({ role: "admin", sub: "ops" }), undefined, "Appointment", "x")).toThrow(
      NotFoundError,
    );
  });

  it("leaves only admins unrestricted: any other role owns nothing and gets no unscoped list", () => {
    const scraper: Principal = { role: "metrics", sub: "metrics" };
    expect(() => ownedOrNotFound(contextOf(scraper), row, "Appointment", "x")).toThrow(NotFoundError);
    expect(() => scoped(contextOf(scraper), { patientId: undefined, doctorId: undefined })).toThrow(ForbiddenError);
    const profile: Rule = { allow: ["admin", "patient", "metrics"], owner: { by: "path", param: "id" } };
    expect(decision(profile, facts(scraper, "/patients/{id}", `/patients/${A}`))).toBe(404);
    expect(decision(profile, facts({ role: "admin", sub: "ops" }, "/patients/{id}", `/patients/${A}`))).toBe(200);
  });

  it("forces a list's filter to the caller, and a contradicting filter means nothing", () => {
    expect(scoped(contextOf({ role: "patient", sub: A }), { patientId: undefined, doctorId: B })).toEqual({
      patientId: A,
      doctorId: B,
    });
    expect(scoped(contextOf({ role: "doctor", sub: B }), { patientId: A, doctorId: undefined })).toEqual({
      patientId: A,
      doctorId: B,
    });
    expect(scoped(contextOf({ role: "patient", sub: A }), { patientId: B, doctorId: undefined })).toBeUndefined();
    expect(scoped(contextOf({ role: "admin", sub: "ops" }), { patientId: B, doctorId: undefined })).toEqual({
      patientId: B,
      doctorId: undefined,
    });
  });
});

describe("route templates", () => {
  it("turns Hono's :params into OpenAPI's {params} and reads them back from a path", () => {
    expect(openApiPath("/appointments/:id/cancel")).toBe("/appointments/{id}/cancel");
    expect(pathParams("/patients/{id}/eligibility", `/patients/${A}/eligibility`)).toEqual({ id: A });
  });
});

describe("verifyToken", () => {
  const auth: AuthConfig = { ...loadConfig(env).auth, jwksUrl: undefined };
  const deadline = () => Deadline.start(5_000);
  const problemOf = async (token: string, config = auth): Promise<string> => {
    try {
      await verifyToken(token, config, deadline());
      return "accepted";
    } catch (err) {
      if (err instanceof UnauthorizedError) return err.message;
      throw err;
    }
  };

  it("accepts a token signed with the secret and returns its subject and role", async () => {
    await expect(verifyToken(await tokenFor({ role: "patient", sub: A }), auth, deadline())).resolves.toEqual({
      sub: A,
      role: "patient",
    });
  });

  it("refuses an expired token, naming expiry", async () => {
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }, { expiresIn: -120 }))).toMatch(/expired/);
  });

  it("tolerates a few seconds of clock skew", async () => {
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }, { expiresIn: -5 }))).toBe("accepted");
  });

  it("refuses a token signed with another secret", async () => {
    const forged = await tokenFor(
      { role: "admin", sub: "x" },
      { secret: "another-secret-of-at-least-32-characters!!" },
    );
    expect(await problemOf(forged)).toMatch(/signature/);
  });

  it("refuses an unsigned token (alg none)", async () => {
    const unsigned = new UnsecuredJWT({ role: "admin" }).setSubject("x").setExpirationTime("1h").encode();
    expect(await problemOf(unsigned)).toMatch(/algorithm/);
  });

  it("refuses HS256 when no secret is configured, whatever the token", async () => {
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }), { ...auth, secret: undefined })).toMatch(
      /algorithm/,
    );
  });

  it("refuses a wrong issuer or audience when they are configured", async () => {
    expect(
      await problemOf(await tokenFor({ role: "admin", sub: "x" }, { claims: { iss: "https://evil.example/" } })),
    ).toMatch(/"iss"/);
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }, { claims: { aud: "other-api" } }))).toMatch(
      /"aud"/,
    );
  });

  it("refuses a role outside admin, doctor, patient (including the metrics pseudo-role)", async () => {
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }, { claims: { role: "metrics" } }))).toMatch(
      /"role"/,
    );
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }, { claims: { role: ["admin"] } }))).toMatch(
      /"role"/,
    );
  });

  it("refuses a token without an expiry", async () => {
    const token = await new SignJWT({ role: "admin" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject("x")
      .setIssuer(env.AUTH_ISSUER)
      .setAudience(env.AUTH_AUDIENCE)
      .sign(new TextEncoder().encode(env.AUTH_JWT_SECRET));
    expect(await problemOf(token)).toMatch(/"exp"/);
  });

  it("refuses a token without a typ header, or typed as anything but an access token", async () => {
    const signed = (header: { alg: string; typ?: string }) =>
      new SignJWT({ role: "admin", sub: "x", iss: env.AUTH_ISSUER, aud: env.AUTH_AUDIENCE })
        .setProtectedHeader(header)
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode(env.AUTH_JWT_SECRET));
    expect(await problemOf(await signed({ alg: "HS256" }))).toMatch(/"typ"/);
    expect(await problemOf(await signed({ alg: "HS256", typ: "id_token+jwt" }))).toMatch(/"typ"/);
    expect(await problemOf(await signed({ alg: "HS256", typ: "application/at+JWT" }))).toBe("accepted");
    expect(await problemOf(await signed({ alg: "HS256" }), { ...auth, tokenTypes: [] })).toBe("accepted");
  });

  it("refuses a token valid for longer than AUTH_MAX_TOKEN_LIFETIME_S, with or without iat", async () => {
    const day = 86_400;
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }, { expiresIn: day - 60 }))).toBe("accepted");
    expect(await problemOf(await tokenFor({ role: "admin", sub: "x" }, { expiresIn: day + 60 }))).toMatch(/longer/);
    const noIat = await tokenFor({ role: "admin", sub: "x" }, { expiresIn: 2 * day, claims: { iat: undefined } });
    expect(await problemOf(noIat)).toMatch(/longer/);
    expect(await problemOf(noIat, { ...auth, maxTokenLifetimeS: 3 * day })).toBe("accepted");
  });

  it("refuses garbage without throwing anything but a 401", async () => {
    for (const junk of ["abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "...."])
      expect(await problemOf(junk)).not.toBe("accepted");
  });
});
