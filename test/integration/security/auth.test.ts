/**
 * Authentication and authorization through the Worker: the 401 variants and their challenges,
 * tokens from the identity provider's key set (JWKS) and its rotation, and what each role sees.
 * Every operation's refusals are in security-suite.test.ts; this file covers the behaviours behind them.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { newApp } from "../../../functions/app.ts";
import { ORIGIN, call, expectProblem, fieldsOf, json, postJson } from "../../helpers/api.ts";
import { ADMIN, asDoctor, asPatient, keyServer, tokenFor } from "../../helpers/auth.ts";
import { count } from "../../helpers/db.ts";
import {
  book,
  createDoctor,
  createPatient,
  slot,
  type Appointment,
  type Page,
  type Patient,
} from "../../helpers/factories.ts";

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** The Worker with other settings (a key set of its own...), called as `headers` say. */
async function fetchWith(overrides: Partial<Env>, path: string, headers: Record<string, string>): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await newApp().fetch(new Request(ORIGIN + path, { headers }), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe("a request without a token", () => {
  it("reaches public operations", async () => {
    await json(await call("/doctors?limit=1", { as: "anonymous" }), 200);
  });

  it("gets 401 with a bare Bearer challenge on the others, before any input is looked at", async () => {
    const res = await call("/patients?limit=oops", { as: "anonymous" });
    expect((await expectProblem(res, 401)).type).toBe("https://clinic-edge.dev/problems/unauthorized");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="clinic-edge"');
  });
});

describe("an invalid token", () => {
  it("is refused with 401 invalid_token even on a public operation", async () => {
    const res = await call("/healthz", bearer("not-a-jwt"));
    await expectProblem(res, 401);
    expect(res.headers.get("www-authenticate")).toBe(
      'Bearer realm="clinic-edge", error="invalid_token", error_description="The token is malformed"',
    );
  });

  it("is refused when the scheme is not Bearer", async () => {
    const res = await call("/patients", { headers: { authorization: `Basic ${btoa("admin:admin")}` } });
    expect((await expectProblem(res, 401)).detail).toContain("Bearer");
  });

  it("is refused when expired, and says so", async () => {
    const res = await call("/patients", bearer(await tokenFor(ADMIN, { expiresIn: -600 })));
    expect((await expectProblem(res, 401)).detail).toBe("The token has expired");
  });

  it("is refused with a forged signature", async () => {
    const res = await call("/patients", bearer(await tokenFor(ADMIN, { secret: "x".repeat(40) })));
    expect((await expectProblem(res, 401)).detail).toBe("The token's signature does not verify");
  });

  it("is refused unsigned (alg none)", async () => {
    const unsigned = new UnsecuredJWT({ role: "admin", iss: env.AUTH_ISSUER, aud: env.AUTH_AUDIENCE })
      .setSubject("x")
      .setExpirationTime("1h")
      .encode();
    expect((await expectProblem(await call("/patients", bearer(unsigned)), 401)).detail).toBe(
      "The token's algorithm is not accepted",
    );
  });

  it("is refused when HS256-signed with the identity provider's public key (algorithm confusion)", async () => {
    const jwks = await (await fetch(keyServer().jwksUrl)).text();
    const confused = await new SignJWT({ role: "admin", iss: env.AUTH_ISSUER, aud: env.AUTH_AUDIENCE })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("x")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(jwks));
    expect((await expectProblem(await call("/patients", bearer(confused)), 401)).detail).toBe(
      "The token's signature does not verify",
    );
  });

  it("is refused from another issuer or for another audience", async () => {
    for (const claims of [{ iss: "https://evil.example/" }, { aud: "someone-else" }]) {
      await expectProblem(await call("/patients", bearer(await tokenFor(ADMIN, { claims }))), 401);
    }
  });
});

describe("tokens from the identity provider's key set (JWKS)", () => {
  it("are accepted (ES256, verified with the published public key)", async () => {
    const token = await keyServer().sign();
    await json(await call("/patients?limit=1", bearer(token)), 200);
  });

  it("are refused when signed by a key the set does not publish", async () => {
    const other = keyServer(`stranger-${crypto.randomUUID()}`);
    await expectProblem(await call("/patients?limit=1", bearer(await other.sign())), 401);
  });

  it("keep working across a key rotation without restarting the Worker, and the retired key stops working", async () => {
    const idp = keyServer(`rotation-${crypto.randomUUID()}`);
    const settings = { AUTH_JWKS_URL: idp.jwksUrl };
    const before = await idp.sign();
    expect((await fetchWith(settings, "/patients?limit=1", bearer(before).headers)).status).toBe(200);
    expect((await fetchWith(settings, "/patients?limit=1", bearer(before).headers)).status).toBe(200);
    // Cached: two requests, one download.
    expect((await idp.stats()).fetches).toBe(1);

    await idp.rotate();
    const after = await idp.sign();
    expect((await fetchWith(settings, "/patients?limit=1", bearer(after).headers)).status).toBe(200);
    expect((await idp.stats()).fetches).toBe(2);
    const retired = await fetchWith(settings, "/patients?limit=1", bearer(before).headers);
    expect((await expectProblem(retired, 401)).detail).toBe("No key of the identity provider matches the token");
  });

  it("get 503 with Retry-After, never a 500, when the key set cannot be fetched", async () => {
    const token = await keyServer().sign();
    const res = await fetchWith(
      { AUTH_JWKS_URL: "http://127.0.0.1:9/jwks.json" },
      "/patients?limit=1",
      bearer(token).headers,
    );
    await expectProblem(res, 503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});

describe("a patient", () => {
  it("reads and changes their own record only; another's is a 404", async () => {
    const [me, other] = [await createPatient(), await createPatient()];
    expect((await json<Patient>(await call(`/patients/${me.id}`, { as: asPatient(me.id) }), 200)).id).toBe(me.id);
    await json(
      await postJson(
        `/patients/${me.id}`,
        { phone: "+55 11 90000-0000" },
        { method: "PATCH", headers: { "if-match": "*" }, as: asPatient(me.id) },
      ),
      200,
    );
    const res = await call(`/patients/${other.id}`, { as: asPatient(me.id) });
    expect((await expectProblem(res, 404)).detail).toBe(`Patient ${other.id} does not exist`);
  });

  it("books for themselves; booking for someone else is a 403 naming patientId, and nothing is written", async () => {
    const [doctor, me, other] = [await createDoctor(), await createPatient(), await createPatient()];
    const mine = await postJson(
      "/appointments",
      { doctorId: doctor.id, patientId: me.id, ...slot(20, 9) },
      { as: asPatient(me.id) },
    );
    expect(mine.status).toBe(201);
    const theirs = await postJson(
      "/appointments",
      { doctorId: doctor.id, patientId: other.id, ...slot(20, 11) },
      { as: asPatient(me.id) },
    );
    expect(fieldsOf(await expectProblem(theirs, 403))).toEqual(["patientId"]);
    expect(await count("SELECT 1 FROM appointments WHERE patient_id = $1", [other.id])).toBe(0);
  });

  it("lists only their own appointments, whatever the query asks for", async () => {
    const doctor = await createDoctor();
    const [me, other] = [await createPatient(), await createPatient()];
    const mine = await book(doctor.id, me.id, slot(21, 9));
    await book(doctor.id, other.id, slot(21, 10));
    const list = (query: string) => call(`/appointments?${query}`, { as: asPatient(me.id) });
    expect((await json<Page<Appointment>>(await list(`doctorId=${doctor.id}`), 200)).data).toEqual([mine]);
    expect((await json<Page<Appointment>>(await list(`patientId=${other.id}`), 200)).data).toEqual([]);
  });

  it("cancels their own appointment; another's is a 404 and stays scheduled", async () => {
    const doctor = await createDoctor();
    const [me, other] = [await createPatient(), await createPatient()];
    const [mine, theirs] = [await book(doctor.id, me.id, slot(22, 9)), await book(doctor.id, other.id, slot(22, 10))];
    expect(
      (
        await json<Appointment>(
          await call(`/appointments/${mine.id}/cancel`, { method: "POST", as: asPatient(me.id) }),
          200,
        )
      ).status,
    ).toBe("cancelled");
    await expectProblem(await call(`/appointments/${theirs.id}/cancel`, { method: "POST", as: asPatient(me.id) }), 404);
    expect((await json<Appointment>(await call(`/appointments/${theirs.id}`), 200)).status).toBe("scheduled");
  });

  it("cannot see doctors' lists with their appointments embedded", async () => {
    const me = await createPatient();
    await expectProblem(
      await call("/doctors?include=appointments&from=2027-01-01T00:00:00Z&to=2027-01-02T00:00:00Z", {
        as: asPatient(me.id),
      }),
      403,
    );
  });
});

describe("a doctor", () => {
  it("lists and reads their own appointments only", async () => {
    const [me, colleague, patient] = [await createDoctor(), await createDoctor(), await createPatient()];
    const mine = await book(me.id, patient.id, slot(23, 9));
    const theirs = await book(colleague.id, patient.id, slot(23, 11));
    expect(
      (await json<Page<Appointment>>(await call(`/appointments?patientId=${patient.id}`, { as: asDoctor(me.id) }), 200))
        .data,
    ).toEqual([mine]);
    await json(await call(`/appointments/${mine.id}`, { as: asDoctor(me.id) }), 200);
    await expectProblem(await call(`/appointments/${theirs.id}`, { as: asDoctor(me.id) }), 404);
  });

  it("replaces their own schedule; a colleague's is a 404", async () => {
    const [me, colleague] = [await createDoctor(), await createDoctor()];
    const schedule = { intervals: [{ weekday: 1, startsAt: "09:00", endsAt: "12:00" }] };
    await json(await postJson(`/doctors/${me.id}/schedule`, schedule, { method: "PUT", as: asDoctor(me.id) }), 200);
    await expectProblem(
      await postJson(`/doctors/${colleague.id}/schedule`, schedule, { method: "PUT", as: asDoctor(me.id) }),
      404,
    );
  });

  it("may not manage doctors or read patients (403)", async () => {
    const [me, patient] = [await createDoctor(), await createPatient()];
    await expectProblem(
      await postJson(`/doctors/${me.id}`, { specialty: "x" }, { method: "PATCH", as: asDoctor(me.id) }),
      403,
    );
    await expectProblem(await call(`/patients/${patient.id}`, { as: asDoctor(me.id) }), 403);
  });
});

describe("the policy", () => {
  it("closes a route it has no entry for, to admins too", async () => {
    const ctx = createExecutionContext();
    const res = await newApp({ policy: {} }).fetch(
      new Request(`${ORIGIN}/doctors`, bearer(await tokenFor(ADMIN))),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect((await expectProblem(res, 403)).detail).toBe("No access policy covers this operation");
  });

  it("is published in the OpenAPI document: a bearer scheme, and security per operation", async () => {
    const doc = await json<{
      components: { securitySchemes: Record<string, unknown> };
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    }>(await call("/openapi.json", { as: "anonymous" }), 200);
    expect(doc.components.securitySchemes.bearer).toMatchObject({
      type: "http",
      scheme: "bearer",
      bearerFormat: "JWT",
    });
    expect(doc.paths["/healthz"]?.get?.security).toEqual([]);
    expect(doc.paths["/patients/{id}"]?.get?.security).toEqual([{ bearer: [] }]);
    expect(doc.paths["/doctors"]?.get?.security).toEqual([{}, { bearer: [] }]);
  });
});
