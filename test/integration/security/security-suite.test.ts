/**
 * The shared security suite: every operation of the Worker's own /openapi.json, called without a
 * token, with a forged signature, with an expired token, with each role the policy does not admit,
 * and, where access depends on ownership, by another patient or doctor on someone else's resource.
 * Expected statuses come from the policy table (functions/auth/policy.ts), so a new route is tested
 * the moment it is documented, and one without a policy entry fails the first test below.
 * Throughout, every log line is captured: none may carry a token, the secret or a patient's data.
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import { POLICY, type Rule } from "../../../functions/auth/policy.ts";
import { TOKEN_ROLES, type TokenRole } from "../../../functions/auth/principal.ts";
import { newApp } from "../../../functions/app.ts";
import { openApiPath } from "../../../functions/auth/policy.ts";
import { call, expectProblem, json } from "../../helpers/api.ts";
import { tokenFor, type As } from "../../helpers/auth.ts";
import {
  book,
  createDoctor,
  createPatient,
  slot,
  type Appointment,
  type Doctor,
  type Patient,
} from "../../helpers/factories.ts";

interface Operation {
  key: string;
  method: string;
  template: string;
  rule: Rule | undefined;
  hasBody: boolean;
}

/** The contract as the Worker publishes it: fetched once, when the suite is collected. */
const document = await (
  await call("/openapi.json", { as: "anonymous" })
).json<{
  paths: Record<string, Record<string, { requestBody?: unknown }>>;
}>();
const OPERATIONS: Operation[] = Object.entries(document.paths).flatMap(([template, item]) =>
  Object.entries(item)
    .filter(([method]) => ["get", "put", "post", "delete", "patch"].includes(method))
    .map(([method, op]) => {
      const key = `${method.toUpperCase()} ${template}`;
      return { key, method: method.toUpperCase(), template, rule: POLICY[key], hasBody: op.requestBody !== undefined };
    }),
);

/** Valid bodies for operations where an owner check runs after body validation (row ownership with a body). */
const BODIES: Record<string, (a: Fixture) => unknown> = {
  "PATCH /appointments/{id}": () => slot(40, 15),
  "POST /appointments": (a) => ({ doctorId: a.doctor.id, patientId: a.patient.id, ...slot(41, 15) }),
};

interface Fixture {
  patient: Patient;
  doctor: Doctor;
  appointment: Appointment;
}

/** A's records, which B (another patient, another doctor) must not see or change. */
let a: Fixture;
let b: { patient: Patient; doctor: Doctor };
const tokensUsed = new Set<string>();
let logs: MockInstance[] = [];

const ANY_ID = "3f0c7a52-6a8f-4c56-9d43-1b7f5a0e8e21";
const pathOf = (template: string, id = ANY_ID) => template.replace(/\{\w+\}/g, id);

async function send(
  op: Operation,
  authorization: string | undefined,
  path = pathOf(op.template),
  body: unknown = {},
): Promise<Response> {
  if (authorization) tokensUsed.add(authorization);
  return call(path, {
    as: "anonymous",
    method: op.method,
    headers: {
      ...(authorization ? { authorization: `Bearer ${authorization}` } : {}),
      ...(op.hasBody ? { "content-type": "application/json" } : {}),
    },
    ...(op.hasBody ? { body: JSON.stringify(body) } : {}),
  });
}

/** A refusal says who may not do what, and nothing else: only the problem fields. */
async function expectBareProblem(res: Response, status: number): Promise<string> {
  const text = await res.clone().text();
  const problem = await expectProblem(res, status);
  expect(Object.keys(problem).sort()).toEqual(
    ["detail", "instance", "requestId", "status", "title", "type", ...(problem.errors ? ["errors"] : [])].sort(),
  );
  return text;
}

const isPublic = (rule: Rule) => rule.allow === "public";
const refusedRoles = (rule: Rule): TokenRole[] =>
  rule.allow === "public" ? [] : TOKEN_ROLES.filter((r) => !(rule.allow as readonly string[]).includes(r));
const owningRoles = (rule: Rule): Array<"patient" | "doctor"> =>
  rule.owner && rule.allow !== "public"
    ? (["patient", "doctor"] as const).filter((r) => (rule.allow as readonly string[]).includes(r))
    : [];

beforeAll(async () => {
  logs = [vi.spyOn(console, "log"), vi.spyOn(console, "warn"), vi.spyOn(console, "error")];
  const [patient, doctor] = [await createPatient({ phone: "+55 11 95555-0101" }), await createDoctor()];
  a = { patient, doctor, appointment: await book(doctor.id, patient.id, slot(30, 9)) };
  b = { patient: await createPatient(), doctor: await createDoctor() };
});

afterAll(() => {
  const output = logs.flatMap((spy) => spy.mock.calls.map((args) => args.map(String).join(" "))).join("\n");
  for (const spy of logs) spy.mockRestore();
  expect(output).toContain('"msg":"request"');
  expect(output).not.toContain(env.AUTH_JWT_SECRET);
  for (const token of tokensUsed) expect(output).not.toContain(token);
  // A token's parts (a signature alone would identify it) and the patient's personal data.
  for (const token of tokensUsed)
    for (const part of token.split(".").filter((p) => p.length > 20)) expect(output).not.toContain(part);
  for (const value of [a.patient.name, a.patient.email, a.patient.phone ?? "", b.patient.name, b.patient.email])
    expect(output).not.toContain(value);
});

describe("the policy covers every route", () => {
  it("has an entry for every operation in /openapi.json", () => {
    expect(OPERATIONS.length).toBeGreaterThan(15);
    expect(OPERATIONS.filter((op) => !op.rule).map((op) => op.key)).toEqual([]);
  });

  it("has an entry for every route the Worker serves, documented or not (/docs, /openapi.json)", () => {
    const served = newApp()
      .routes.filter((r) => r.method !== "ALL")
      .map((r) => `${r.method} ${openApiPath(r.path)}`);
    expect(served.filter((key) => !POLICY[key])).toEqual([]);
  });
});

describe.each(OPERATIONS.filter((op) => op.rule))("$key", (op) => {
  const rule = op.rule!;

  it(isPublic(rule) ? "answers without a token" : "answers 401 with a Bearer challenge without a token", async () => {
    if (isPublic(rule)) {
      // About a doctor who exists, on a day that exists: every public operation answers in full.
      const path = `${pathOf(op.template, a.doctor.id)}?date=${a.appointment.startsAt.slice(0, 10)}`;
      expect((await send(op, undefined, path)).status).toBe(200);
      return;
    }
    const res = await send(op, undefined);
    await expectBareProblem(res, 401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="clinic-edge"');
  });

  it("answers 401 invalid_token to a token with a forged signature", async () => {
    const forged = await tokenFor(
      { role: "admin", sub: "intruder" },
      { secret: `forged-${crypto.randomUUID()}-${crypto.randomUUID()}` },
    );
    const res = await send(op, forged);
    await expectBareProblem(res, 401);
    expect(res.headers.get("www-authenticate")).toMatch(
      /^Bearer realm="clinic-edge", error="invalid_token", error_description="[^"]*signature/,
    );
  });

  it("answers 401 invalid_token to an expired token", async () => {
    const res = await send(op, await tokenFor({ role: "admin", sub: "late" }, { expiresIn: -3_600 }));
    await expectBareProblem(res, 401);
    expect(res.headers.get("www-authenticate")).toMatch(/error="invalid_token", error_description="[^"]*expired/);
  });

  const refused = refusedRoles(rule);
  // Public operations admit every role, and only owned resources have an owner to impersonate.
  if (refused.length > 0)
    it(`answers 403 to the roles the policy does not admit (${refused.join(", ")})`, async () => {
      for (const role of refused) {
        const text = await expectBareProblem(await send(op, await tokenFor({ role, sub: crypto.randomUUID() })), 403);
        expect(text).toContain(role);
      }
    });

  const owners = owningRoles(rule);
  if (owners.length > 0)
    it(`answers another ${owners.join(" or ")} as if A's resource did not exist, and changes nothing`, async () => {
      const secrets = [a.patient.name, a.patient.email, a.patient.phone!, a.appointment.startsAt];
      for (const role of owners) {
        const caller: As = { role, sub: role === "patient" ? b.patient.id : b.doctor.id };
        const token = await tokenFor(caller);
        const owner = rule.owner!;
        let res: Response;
        if (owner.by === "path") {
          res = await send(op, token, pathOf(op.template, role === "patient" ? a.patient.id : a.doctor.id), {});
        } else {
          const sample = BODIES[op.key];
          if (op.hasBody && !sample) expect.fail(`${op.key} needs a valid body in BODIES to reach its ownership check`);
          res = await send(op, token, pathOf(op.template, a.appointment.id), sample?.(a) ?? {});
        }
        const text = await expectBareProblem(res, owner.by === "body" ? 403 : 404);
        for (const value of [...secrets, owner.by === "row" ? a.doctor.id : a.appointment.id])
          expect(text).not.toContain(value);
      }
      // Nothing of A's changed, whatever the operation was.
      expect(await json<Appointment>(await call(`/appointments/${a.appointment.id}`), 200)).toEqual(a.appointment);
      expect(
        (await json<{ data: Appointment[] }>(await call(`/appointments?patientId=${a.patient.id}`), 200)).data,
      ).toEqual([a.appointment]);
      expect(await json<Patient>(await call(`/patients/${a.patient.id}`), 200)).toEqual(a.patient);
    });
});
