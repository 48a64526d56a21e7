/**
 * Conditional GETs: a client that holds a copy sends its ETag in If-None-Match and gets 304 with
 * no body while the copy is current, and the new representation once the resource changed.
 */
import { describe, expect, it } from "vitest";
import { call, expectProblem, fieldsOf, json, patchJson } from "../../helpers/api.ts";
import { EVERY_MORNING, book, createDoctor, createPatient, doctorWithSchedule, slot } from "../../helpers/factories.ts";

/** The single-resource GETs, each with a way to make one and a change that gives it a new ETag. */
const RESOURCES = [
  {
    name: "doctor",
    make: async () => `/doctors/${(await createDoctor()).id}`,
    change: (path: string) => patchJson(path, { specialty: "neurology" }),
  },
  {
    name: "patient",
    make: async () => `/patients/${(await createPatient()).id}`,
    change: (path: string) => patchJson(path, { phone: "+55 11 91234-5678" }),
  },
  {
    name: "appointment",
    make: async () => {
      const [doctor, patient] = [await createDoctor(), await createPatient()];
      return `/appointments/${(await book(doctor.id, patient.id, slot(3))).id}`;
    },
    change: (path: string) => patchJson(path, slot(4)),
  },
  {
    name: "schedule",
    make: async () => `/doctors/${(await doctorWithSchedule()).id}/schedule`,
    change: (path: string) =>
      call(path, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ intervals: EVERY_MORNING.intervals.slice(1) }),
      }),
  },
] as const;

for (const resource of RESOURCES) {
  describe(`conditional GET of a ${resource.name}`, () => {
    it("answers 304 with the ETag and no body when If-None-Match names the current version", async () => {
      const path = await resource.make();
      const etag = (await call(path)).headers.get("etag")!;
      expect(etag).toMatch(/^"[^"]+"$/);
      const res = await call(path, { headers: { "if-none-match": etag } });
      expect(res.status).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect(await res.text()).toBe("");
    });

    it("compares weakly and accepts a list: W/ and other listed tags still match", async () => {
      const path = await resource.make();
      const etag = (await call(path)).headers.get("etag")!;
      const res = await call(path, { headers: { "if-none-match": `"stale", W/${etag}` } });
      expect(res.status).toBe(304);
      await res.body?.cancel();
    });

    it("answers 304 to * while the resource exists", async () => {
      const path = await resource.make();
      const res = await call(path, { headers: { "if-none-match": "*" } });
      expect(res.status).toBe(304);
      await res.body?.cancel();
    });

    it("answers 200 with the new representation and ETag once the resource changed", async () => {
      const path = await resource.make();
      const before = (await call(path)).headers.get("etag")!;
      expect((await resource.change(path)).status).toBe(200);
      const res = await call(path, { headers: { "if-none-match": before } });
      const body = await json<Record<string, unknown>>(res, 200);
      expect(res.headers.get("etag")).not.toBe(before);
      expect(body).toEqual(await (await call(path)).json());
    });
  });
}

describe("If-None-Match that is not a list of entity tags", () => {
  it("is refused with 400 naming the header", async () => {
    const doctor = await createDoctor();
    const res = await call(`/doctors/${doctor.id}`, { headers: { "if-none-match": "3" } });
    expect(fieldsOf(await expectProblem(res, 400))).toEqual(["if-none-match"]);
  });
});

describe("If-None-Match on a resource that does not exist", () => {
  it("still answers 404", async () => {
    const res = await call(`/doctors/${crypto.randomUUID()}`, { headers: { "if-none-match": "*" } });
    await expectProblem(res, 404);
  });
});
