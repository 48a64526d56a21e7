import { describe, expect, it } from "vitest";
import { call, expectProblem, fieldsOf, json, patchJson, postJson, queriesOf } from "../../helpers/api.ts";
import { count } from "../../helpers/db.ts";
import {
  book,
  createDoctor,
  createPatient,
  slot,
  unique,
  uniqueSpecialty,
  type Doctor,
  type Page,
} from "../../helpers/factories.ts";
import { sqlEndpointStats } from "../../helpers/sql-endpoint.ts";

describe("POST /doctors", () => {
  it("creates an active doctor and answers 201 with its Location", async () => {
    const name = unique("Dr. Create");
    const res = await postJson("/doctors", { name, specialty: "neurology" });
    const doctor = await json<Doctor>(res, 201);
    expect(doctor).toMatchObject({ name, specialty: "neurology", active: true });
    expect(res.headers.get("location")).toBe(`/doctors/${doctor.id}`);
    expect(await count("SELECT 1 FROM doctors WHERE id = $1 AND name = $2", [doctor.id, name])).toBe(1);
  });

  it("trims names and specialties", async () => {
    const doctor = await createDoctor({ name: "  Dr. Spaces  ", specialty: " dermatology " });
    expect(doctor).toMatchObject({ name: "Dr. Spaces", specialty: "dermatology" });
  });

  it("rejects a body with wrong types with 400 naming every field and writes nothing", async () => {
    const name = unique("Dr. Invalid");
    const problem = await expectProblem(await postJson("/doctors", { name, specialty: 42, active: "yes" }), 400);
    expect(fieldsOf(problem).sort()).toEqual(["active", "specialty"]);
    expect(problem.errors?.every((e) => e.in === "body")).toBe(true);
    expect(await count("SELECT 1 FROM doctors WHERE name = $1", [name])).toBe(0);
  });

  it("rejects an unknown field with 400", async () => {
    const problem = await expectProblem(await postJson("/doctors", { name: "Dr. X", specialty: "x", salary: 1 }), 400);
    expect(problem.detail).toContain("salary");
  });

  it("rejects missing required fields with 400 naming them", async () => {
    const problem = await expectProblem(await postJson("/doctors", {}), 400);
    expect(fieldsOf(problem).sort()).toEqual(["name", "specialty"]);
  });
});

describe("GET /doctors/:id", () => {
  it("returns the doctor", async () => {
    const created = await createDoctor();
    const doctor = await json<Doctor>(await call(`/doctors/${created.id}`), 200);
    expect(doctor).toEqual(created);
  });

  it("answers 404 for an id that does not exist", async () => {
    const id = crypto.randomUUID();
    const problem = await expectProblem(await call(`/doctors/${id}`), 404);
    expect(problem.detail).toContain(id);
  });

  it("answers 404 for a UUID no row can have (not version 4) without a Coalescer hop or a query", async () => {
    const v7 = "01939a3c-7e00-7abc-8def-0123456789ab";
    for (const path of [
      "/doctors/00000000-0000-0000-0000-000000000000",
      `/doctors/${v7}`,
      `/doctors/${v7}/availability?date=2027-01-04`,
    ]) {
      const res = await call(path);
      await expectProblem(res, 404);
      const timing = res.headers.get("server-timing") ?? "";
      expect(timing).toContain('coalescer;desc="impossible-id"');
      expect(timing).not.toMatch(/(^|, )db;/);
    }
  });

  it("answers 400 naming `id` for a malformed id", async () => {
    const problem = await expectProblem(await call("/doctors/not-a-uuid"), 400);
    expect(problem.errors).toEqual([expect.objectContaining({ field: "id", in: "path" })]);
  });
});

describe("GET /doctors", () => {
  it("filters by specialty and active flag", async () => {
    const specialty = uniqueSpecialty();
    const a = await createDoctor({ specialty, name: "Dr. A" });
    const b = await createDoctor({ specialty, name: "Dr. B", active: false });
    await createDoctor({ name: "Dr. Other" });

    const all = await json<Page<Doctor>>(await call(`/doctors?specialty=${encodeURIComponent(specialty)}`), 200);
    expect(all.data.map((d) => d.id)).toEqual([a.id, b.id]);

    const active = await json<Page<Doctor>>(
      await call(`/doctors?specialty=${encodeURIComponent(specialty)}&active=true`),
      200,
    );
    expect(active.data.map((d) => d.id)).toEqual([a.id]);

    const inactive = await json<Page<Doctor>>(
      await call(`/doctors?specialty=${encodeURIComponent(specialty)}&active=false`),
      200,
    );
    expect(inactive.data.map((d) => d.id)).toEqual([b.id]);
  });

  it("pages through every doctor exactly once with the cursor, in name order", async () => {
    const specialty = uniqueSpecialty();
    const names = ["Dr. Ana", "Dr. Bia", "Dr. Caio", "Dr. Duda", "Dr. Edu"];
    // Two doctors share a name: the id breaks the tie, so neither is skipped nor repeated.
    const created = await Promise.all([...names, "Dr. Bia"].map((name) => createDoctor({ name, specialty })));

    const seen: Doctor[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `/doctors?specialty=${encodeURIComponent(specialty)}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page: Page<Doctor> = await json<Page<Doctor>>(await call(query), 200);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);

    expect(pages).toBe(3);
    expect(seen.map((d) => d.id).sort()).toEqual(created.map((d) => d.id).sort());
    expect(seen.map((d) => d.name)).toEqual([...names.slice(0, 2), "Dr. Bia", ...names.slice(2)]);
  });

  it("rejects a tampered cursor with 400 naming `cursor`", async () => {
    const problem = await expectProblem(await call("/doctors?cursor=eyJub3QiOiJhIGN1cnNvciJ9"), 400);
    expect(problem.errors).toEqual([expect.objectContaining({ field: "cursor", in: "query" })]);
  });

  it("rejects out-of-range limits and malformed flags with 400 naming them", async () => {
    const problem = await expectProblem(await call("/doctors?limit=1000&active=maybe"), 400);
    expect(fieldsOf(problem).sort()).toEqual(["active", "limit"]);
    expect(problem.errors?.every((e) => e.in === "query")).toBe(true);
  });
});

describe("GET /doctors?include=appointments", () => {
  it("embeds each doctor's appointments in the window", async () => {
    const specialty = uniqueSpecialty();
    const [d1, d2] = [
      await createDoctor({ specialty, name: "Dr. One" }),
      await createDoctor({ specialty, name: "Dr. Two" }),
    ];
    const patient = await createPatient();
    const inWindow = await book(d1.id, patient.id, slot(3, 9));
    const alsoInWindow = await book(d1.id, patient.id, slot(3, 11));
    await book(d1.id, patient.id, slot(20, 9)); // outside the window

    const from = slot(3, 0).startsAt;
    const to = slot(4, 0).startsAt;
    const res = await call(
      `/doctors?specialty=${encodeURIComponent(specialty)}&include=appointments&from=${from}&to=${to}`,
    );
    const page = await json<Page<Doctor>>(res, 200);

    expect(page.data.map((d) => d.id)).toEqual([d1.id, d2.id]);
    expect(page.data[0]?.appointments).toEqual([inWindow, alsoInWindow]);
    expect(page.data[1]?.appointments).toEqual([]);
  });

  it("runs one SQL statement whatever the number of doctors", async () => {
    const specialty = uniqueSpecialty();
    const patient = await createPatient();
    const doctors = await Promise.all(
      Array.from({ length: 12 }, (_, i) => createDoctor({ specialty, name: `Dr. N${String(i).padStart(2, "0")}` })),
    );
    await Promise.all(doctors.map((d, i) => book(d.id, patient.id, slot(5, 8 + (i % 8)))));
    const requestId = `one-query-${crypto.randomUUID()}`;

    const res = await call(
      `/doctors?specialty=${encodeURIComponent(specialty)}&include=appointments&from=${slot(5, 0).startsAt}&to=${slot(6, 0).startsAt}&limit=50`,
      { headers: { "x-request-id": requestId } },
    );
    const page = await json<Page<Doctor>>(res, 200);
    expect(page.data).toHaveLength(12);
    expect(page.data.every((d) => d.appointments?.length === 1)).toBe(true);

    // Counted twice: by the app (Server-Timing) and on the wire by the HTTP /sql endpoint: one
    // round trip carrying the statement and the set_config that brings the deadline along.
    expect(queriesOf(res)).toBe(1);
    expect(await sqlEndpointStats(`clinic-edge:${requestId}`)).toMatchObject({ requests: 1, statements: 2 });
  });

  it("requires from and to, in order, within 93 days", async () => {
    const missing = await expectProblem(await call("/doctors?include=appointments"), 400);
    expect(fieldsOf(missing).sort()).toEqual(["from", "to"]);

    const reversed = await expectProblem(
      await call("/doctors?include=appointments&from=2027-01-10T00:00:00Z&to=2027-01-01T00:00:00Z"),
      400,
    );
    expect(fieldsOf(reversed)).toEqual(["to"]);

    const tooWide = await expectProblem(
      await call("/doctors?include=appointments&from=2027-01-01T00:00:00Z&to=2027-06-01T00:00:00Z"),
      400,
    );
    expect(tooWide.errors?.[0]?.message).toContain("93 days");
  });

  it("rejects dates that are not ISO instants or are out of range", async () => {
    const bad = await expectProblem(
      await call("/doctors?include=appointments&from=yesterday&to=2027-13-01T00:00:00Z"),
      400,
    );
    expect(fieldsOf(bad).sort()).toEqual(["from", "to"]);
    const ancient = await expectProblem(
      await call("/doctors?include=appointments&from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z"),
      400,
    );
    expect(fieldsOf(ancient)).toContain("from");
  });
});

describe("PATCH /doctors/:id", () => {
  it("changes only the given fields and moves updatedAt", async () => {
    const doctor = await createDoctor({ specialty: "pediatrics" });
    const updated = await json<Doctor>(await patchJson(`/doctors/${doctor.id}`, { specialty: "neurology" }), 200);
    expect(updated).toMatchObject({ id: doctor.id, name: doctor.name, specialty: "neurology", active: true });
    expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(doctor.updatedAt));
  });

  it("rejects an empty change with 400", async () => {
    const doctor = await createDoctor();
    await expectProblem(await patchJson(`/doctors/${doctor.id}`, {}), 400);
  });

  it("answers 404 for an unknown doctor", async () => {
    await expectProblem(await patchJson(`/doctors/${crypto.randomUUID()}`, { name: "Dr. Ghost" }), 404);
  });
});

describe("POST /doctors/:id/deactivate", () => {
  it("marks the doctor inactive and keeps them readable", async () => {
    const doctor = await createDoctor();
    const res = await call(`/doctors/${doctor.id}/deactivate`, { method: "POST" });
    expect((await json<Doctor>(res, 200)).active).toBe(false);
    expect((await json<Doctor>(await call(`/doctors/${doctor.id}`), 200)).active).toBe(false);
  });

  it("answers 404 for an unknown doctor", async () => {
    await expectProblem(await call(`/doctors/${crypto.randomUUID()}/deactivate`, { method: "POST" }), 404);
  });
});
