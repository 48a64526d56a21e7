import { describe, expect, it } from "vitest";
import { encodeCursor } from "../../../functions/http/pagination.ts";
import { call, expectProblem, fieldsOf, json, patchJson, postJson } from "../../helpers/api.ts";
import { api, expectOk } from "../../helpers/client.ts";
import { count, withSql } from "../../helpers/db.ts";
import { createPatient, unique, type Page, type Patient } from "../../helpers/factories.ts";

const email = () => `${crypto.randomUUID()}@example.com`;

describe("POST /patients", () => {
  it("registers a patient and answers 201 with its Location", async () => {
    const body = { name: unique("Maria"), email: email(), phone: "+55 11 91234-5678", birthDate: "1985-04-12" };
    const created = await api.POST("/patients", { body });
    const patient = expectOk(created, 201);
    expect(patient).toMatchObject(body);
    expect(created.response.headers.get("location")).toBe(`/patients/${patient.id}`);
    expect(await count("SELECT 1 FROM patients WHERE id = $1", [patient.id])).toBe(1);
  });

  it("accepts a patient without a phone", async () => {
    const patient = await createPatient({ phone: null });
    expect(patient.phone).toBeNull();
  });

  it("refuses a second patient with the same email in any letter case with 409 naming `email`", async () => {
    const address = email();
    await createPatient({ email: address });
    const name = unique("Duplicate");
    const problem = await expectProblem(
      await postJson("/patients", { name, email: address.toUpperCase(), birthDate: "1990-01-01" }),
      409,
    );
    expect(fieldsOf(problem)).toEqual(["email"]);
    expect(await count("SELECT 1 FROM patients WHERE name = $1", [name])).toBe(0);
  });

  it("rejects a malformed email, phone and birth date with 400 naming each", async () => {
    const name = unique("Invalid");
    const problem = await expectProblem(
      await postJson("/patients", { name, email: "not-an-email", phone: "call me", birthDate: "1990-02-30" }),
      400,
    );
    expect(fieldsOf(problem).sort()).toEqual(["birthDate", "email", "phone"]);
    expect(await count("SELECT 1 FROM patients WHERE name = $1", [name])).toBe(0);
  });

  it("rejects a birth date in the future or before 1900", async () => {
    const future = await expectProblem(
      await postJson("/patients", { name: "F", email: email(), birthDate: "2999-01-01" }),
      400,
    );
    expect(future.errors).toEqual([
      expect.objectContaining({ field: "birthDate", message: "must not be in the future" }),
    ]);
    const ancient = await expectProblem(
      await postJson("/patients", { name: "A", email: email(), birthDate: "1850-01-01" }),
      400,
    );
    expect(fieldsOf(ancient)).toEqual(["birthDate"]);
  });
});

describe("GET /patients/:id", () => {
  it("returns the patient", async () => {
    const created = await createPatient();
    expect(expectOk(await api.GET("/patients/{id}", { params: { path: { id: created.id } } }), 200)).toEqual(created);
  });

  it("answers 404 for an unknown id and 400 for a malformed one", async () => {
    await expectProblem(await call(`/patients/${crypto.randomUUID()}`), 404);
    const problem = await expectProblem(await call("/patients/123"), 400);
    expect(fieldsOf(problem)).toEqual(["id"]);
  });
});

const NIL_UUID = "00000000-0000-0000-0000-000000000000";

describe("GET /patients", () => {
  it("finds a patient by email, case-insensitively", async () => {
    const patient = await createPatient();
    const page = expectOk(
      await api.GET("/patients", { params: { query: { email: patient.email.toUpperCase() } } }),
      200,
    );
    expect(page).toEqual({ data: [patient], nextCursor: null });
  });

  it("pages in name order with a cursor, the order Postgres' collation gives", async () => {
    // Names of our own, next to each other in any order, with case and accents where collations differ.
    const prefix = unique("Paging");
    const made: Patient[] = [];
    for (const suffix of ["b", "B", "a", "É", "e"]) made.push(await createPatient({ name: `${prefix} ${suffix}` }));
    const start = encodeCursor([prefix, NIL_UUID]);

    const first = await json<Page<Patient>>(await call(`/patients?limit=3&cursor=${start}`), 200);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await json<Page<Patient>>(await call(`/patients?limit=3&cursor=${first.nextCursor}`), 200);

    const byPostgres = await withSql(async (sql) => {
      const q = "SELECT id FROM patients WHERE id = ANY($1) ORDER BY name, id";
      return (await sql.query<{ id: string }>(q, [made.map((p) => p.id)])).rows.map((r) => r.id);
    });
    expect(first.data.map((p) => p.id)).toEqual(byPostgres.slice(0, 3));
    // The second page goes on from the cursor: our last two, then whoever sorts after them.
    expect(second.data.slice(0, 2).map((p) => p.id)).toEqual(byPostgres.slice(3));
  });
});

describe("PATCH /patients/:id", () => {
  it("updates the given fields", async () => {
    const patient = await createPatient();
    const updated = expectOk(
      await api.PATCH("/patients/{id}", {
        params: { path: { id: patient.id }, header: { "if-match": "*" } },
        body: { phone: "+1 (555) 010-9999" },
      }),
      200,
    );
    expect(updated).toMatchObject({
      id: patient.id,
      name: patient.name,
      email: patient.email,
      phone: "+1 (555) 010-9999",
    });
  });

  it("refuses taking another patient's email with 409 and leaves the row unchanged", async () => {
    const [a, b] = [await createPatient(), await createPatient()];
    const problem = await expectProblem(await patchJson(`/patients/${b.id}`, { email: a.email, name: "Changed" }), 409);
    expect(fieldsOf(problem)).toEqual(["email"]);
    expect(await json<Patient>(await call(`/patients/${b.id}`), 200)).toEqual(b);
  });

  it("answers 404 for an unknown patient", async () => {
    await expectProblem(await patchJson(`/patients/${crypto.randomUUID()}`, { name: "Ghost" }), 404);
  });
});
