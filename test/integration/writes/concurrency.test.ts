import { describe, expect, it } from "vitest";
import { call, expectProblem, fieldsOf, json, patchJson } from "../../helpers/api.ts";
import { withSql } from "../../helpers/db.ts";
import {
  book,
  createDoctor,
  createPatient,
  slot,
  type Appointment,
  type Doctor,
  type Patient,
} from "../../helpers/factories.ts";

/** The three updatable resources, each with a way to make one and a change to send. */
const RESOURCES = [
  {
    name: "doctor",
    make: async () => `/doctors/${(await createDoctor()).id}`,
    changes: [{ specialty: "neurology" }, { specialty: "oncology" }],
  },
  {
    name: "patient",
    make: async () => `/patients/${(await createPatient()).id}`,
    changes: [{ phone: "+55 11 91234-5678" }, { phone: "+55 21 99876-5432" }],
  },
  {
    name: "appointment",
    make: async () => {
      const [doctor, patient] = [await createDoctor(), await createPatient()];
      return `/appointments/${(await book(doctor.id, patient.id, slot(3))).id}`;
    },
    changes: [slot(4), slot(5)],
  },
] as const;

type Versioned = (Doctor | Patient | Appointment) & Record<string, unknown>;

for (const resource of RESOURCES) {
  describe(`optimistic concurrency on updates: ${resource.name}`, () => {
    it("serves an ETag that is the row's version, and raises it with each change", async () => {
      const path = await resource.make();
      const res = await call(path);
      const before = await json<Versioned>(res, 200);
      expect(res.headers.get("etag")).toBe(`"${before.version}"`);

      const patched = await patchJson(path, resource.changes[0], `"${before.version}"`);
      const after = await json<Versioned>(patched, 200);

      expect(after.version).toBe(before.version + 1);
      expect(patched.headers.get("etag")).toBe(`"${after.version}"`);
      expect((await call(path)).headers.get("etag")).toBe(`"${after.version}"`);
    });

    it("refuses a stale If-Match with 412 and keeps the newer change", async () => {
      const path = await resource.make();
      const etag = (await call(path)).headers.get("etag")!;
      await json(await patchJson(path, resource.changes[0], etag), 200);

      const stale = await patchJson(path, resource.changes[1], etag);

      expect(fieldsOf(await expectProblem(stale, 412))).toEqual(["if-match"]);
      expect(await json<Versioned>(await call(path), 200)).toMatchObject(resource.changes[0]);
    });

    it("requires If-Match: 428 without it, nothing changed", async () => {
      const path = await resource.make();
      const before = await json<Versioned>(await call(path), 200);

      const blind = await patchJson(path, resource.changes[0], null);

      expect(fieldsOf(await expectProblem(blind, 428))).toEqual(["if-match"]);
      expect((await json<Versioned>(await call(path), 200)).version).toBe(before.version);
    });

    it("lets exactly one of two clients editing the same version win; the other gets 412", async () => {
      const path = await resource.make();
      const etag = (await call(path)).headers.get("etag")!;

      const answers = await Promise.all(resource.changes.map((change) => patchJson(path, change, etag)));

      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 412]);
      const winner = resource.changes[answers.findIndex((r) => r.status === 200)]!;
      const current = await json<Versioned>(await call(path), 200);
      expect(current).toMatchObject(winner);
      expect(current.version).toBe(Number(etag.replaceAll('"', "")) + 1);
    });
  });
}

describe("If-Match syntax", () => {
  it('accepts "*" and a list containing the current version; a weak tag never matches', async () => {
    const doctor = await createDoctor();
    const path = `/doctors/${doctor.id}`;
    expect((await patchJson(path, { specialty: "neurology" }, "*")).status).toBe(200);
    expect((await patchJson(path, { specialty: "oncology" }, `"1", "2", "99"`)).status).toBe(200);
    await expectProblem(await patchJson(path, { specialty: "cardiology" }, `W/"3"`), 412);
  });

  it("rejects a malformed If-Match with 400 naming the header", async () => {
    const doctor = await createDoctor();
    const res = await patchJson(`/doctors/${doctor.id}`, { specialty: "neurology" }, "3");
    expect(fieldsOf(await expectProblem(res, 400))).toEqual(["if-match"]);
  });

  it("keeps the version when a PATCH changes nothing", async () => {
    const doctor = await createDoctor({ specialty: "cardiology" });
    const res = await patchJson(`/doctors/${doctor.id}`, { specialty: "cardiology" }, `"${doctor.version}"`);
    expect((await json<Doctor>(res, 200)).version).toBe(doctor.version);
  });

  it("raises the version of any update, whichever code path makes it (a database trigger)", async () => {
    const patient = await createPatient();
    await withSql((sql) => sql.query("UPDATE patients SET name = name || ' Jr.' WHERE id = $1", [patient.id]));
    expect((await json<Patient>(await call(`/patients/${patient.id}`), 200)).version).toBe(patient.version + 1);
  });
});

describe("If-Match on state changes", () => {
  it("is optional on cancel and deactivate, and refuses a stale one with 412", async () => {
    const [doctor, patient] = [await createDoctor(), await createPatient()];
    const appointment = await book(doctor.id, patient.id, slot(3));
    await json(await patchJson(`/appointments/${appointment.id}`, slot(4), `"${appointment.version}"`), 200);

    const staleCancel = await call(`/appointments/${appointment.id}/cancel`, {
      method: "POST",
      headers: { "if-match": `"${appointment.version}"` },
    });
    await expectProblem(staleCancel, 412);
    expect((await json<Appointment>(await call(`/appointments/${appointment.id}`), 200)).status).toBe("scheduled");

    const cancel = await call(`/appointments/${appointment.id}/cancel`, { method: "POST" });
    expect((await json<Appointment>(cancel, 200)).status).toBe("cancelled");
    const staleDeactivate = await call(`/doctors/${doctor.id}/deactivate`, {
      method: "POST",
      headers: { "if-match": `"99"` },
    });
    await expectProblem(staleDeactivate, 412);
    expect((await json<Doctor>(await call(`/doctors/${doctor.id}/deactivate`, { method: "POST" }), 200)).active).toBe(
      false,
    );
  });
});
