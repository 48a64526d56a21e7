/**
 * A patient cannot look up other people's insurance coverage: a member id is bound to one patient
 * at most, a patient may change their own only INSURANCE_MEMBER_ID_CHANGES_PER_DAY times in 24
 * hours, and every change is recorded with who made it.
 */
import { describe, expect, it } from "vitest";
import { expectProblem, fieldsOf, postJson } from "../../helpers/api.ts";
import { workerWith } from "../../helpers/app.ts";
import { ADMIN, asPatient } from "../../helpers/auth.ts";
import { withSql } from "../../helpers/db.ts";
import { createPatient, type Patient } from "../../helpers/factories.ts";
import { memberId } from "../../helpers/insurance.ts";

const limited = () => workerWith({ INSURANCE_MEMBER_ID_CHANGES_PER_DAY: "2" });

type Worker = ReturnType<typeof workerWith>;

/** The patient sets their own member id, as themselves unless `as` says otherwise. */
function setMemberId(worker: Worker, patient: Patient, value: string | null, as = asPatient(patient.id)) {
  return worker.fetch(`/patients/${patient.id}`, {
    as,
    method: "PATCH",
    headers: { "content-type": "application/json", "if-match": "*" },
    body: JSON.stringify({ insuranceMemberId: value }),
  });
}

interface Change {
  old_member_id: string | null;
  new_member_id: string | null;
  actor_role: string | null;
  actor_sub: string | null;
  request_id: string | null;
}

const changesOf = (patientId: string) =>
  withSql(async (sql) => {
    const { rows } = await sql.query<Change>(
      `SELECT old_member_id, new_member_id, actor_role, actor_sub, request_id
       FROM insurance_member_id_changes WHERE patient_id = $1 ORDER BY id`,
      [patientId],
    );
    return rows;
  });

const memberIdOf = (patientId: string) =>
  withSql(async (sql) => {
    const { rows } = await sql.query<{ m: string | null }>(
      "SELECT insurance_member_id AS m FROM patients WHERE id = $1",
      [patientId],
    );
    return rows[0]!.m;
  });

describe("an insurance member id bound to another patient", () => {
  it("is refused on PATCH with 409 naming insuranceMemberId, and nothing is written", async () => {
    const worker = limited();
    const holder = await createPatient({ insuranceMemberId: memberId("OK") });
    const patient = await createPatient();
    const problem = await expectProblem(await setMemberId(worker, patient, holder.insuranceMemberId), 409);
    expect(fieldsOf(problem)).toEqual(["insuranceMemberId"]);
    expect(await memberIdOf(patient.id)).toBeNull();
    expect(await changesOf(patient.id)).toEqual([]);
  });

  it("is refused whatever the case or spaces it is sent with (ids are stored normalised)", async () => {
    const holder = await createPatient({ insuranceMemberId: memberId("OK") });
    const patient = await createPatient();
    const sent = ` ${holder.insuranceMemberId!.toLowerCase()} `;
    const problem = await expectProblem(await setMemberId(limited(), patient, sent), 409);
    expect(fieldsOf(problem)).toEqual(["insuranceMemberId"]);
  });

  it("is refused on create with 409 naming insuranceMemberId", async () => {
    const holder = await createPatient({ insuranceMemberId: memberId("OK") });
    const problem = await expectProblem(
      await postJson("/patients", {
        name: "Second Holder",
        email: `${crypto.randomUUID()}@example.com`,
        birthDate: "1980-01-01",
        insuranceMemberId: holder.insuranceMemberId,
      }),
      409,
    );
    expect(fieldsOf(problem)).toEqual(["insuranceMemberId"]);
  });

  it("is free again once its holder clears it", async () => {
    const worker = limited();
    const holder = await createPatient({ insuranceMemberId: memberId("OK") });
    const patient = await createPatient();
    const id = holder.insuranceMemberId;
    expect((await setMemberId(worker, holder, null)).status).toBe(200);
    expect((await setMemberId(worker, patient, id)).status).toBe(200);
  });
});

describe("INSURANCE_MEMBER_ID_CHANGES_PER_DAY", () => {
  it("refuses a patient's change beyond the limit with 429 naming insuranceMemberId and the limit, with Retry-After; nothing is written", async () => {
    const worker = limited();
    const patient = await createPatient();
    const [first, second, third] = [memberId("OK"), memberId("OK"), memberId("OK")];
    expect((await setMemberId(worker, patient, first)).status).toBe(200);
    expect((await setMemberId(worker, patient, second)).status).toBe(200);
    const refused = await setMemberId(worker, patient, third);
    const problem = await expectProblem(refused, 429);
    expect(fieldsOf(problem)).toEqual(["insuranceMemberId"]);
    expect(problem.detail).toContain("2 times in 24 hours");
    expect(problem.errors![0]!.message).toContain("INSURANCE_MEMBER_ID_CHANGES_PER_DAY");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(86_000);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(await memberIdOf(patient.id)).toBe(second);
    expect((await changesOf(patient.id)).map((c) => c.new_member_id)).toEqual([first, second]);
  });

  it("counts changes only: other fields, and setting the same id again, are not limited", async () => {
    const worker = workerWith({ INSURANCE_MEMBER_ID_CHANGES_PER_DAY: "1" });
    const patient = await createPatient();
    const id = memberId("OK");
    expect((await setMemberId(worker, patient, id)).status).toBe(200);
    expect((await setMemberId(worker, patient, id)).status).toBe(200);
    const renamed = await worker.fetch(`/patients/${patient.id}`, {
      as: asPatient(patient.id),
      method: "PATCH",
      headers: { "content-type": "application/json", "if-match": "*" },
      body: JSON.stringify({ name: "Renamed" }),
    });
    expect(renamed.status).toBe(200);
    expect(await changesOf(patient.id)).toHaveLength(1);
  });

  it("lets two concurrent changes at the limit not both through", async () => {
    const worker = workerWith({ INSURANCE_MEMBER_ID_CHANGES_PER_DAY: "1" });
    const patient = await createPatient();
    const statuses = await Promise.all(
      [memberId("OK"), memberId("OK"), memberId("OK")].map(
        async (id) => (await setMemberId(worker, patient, id)).status,
      ),
    );
    expect(statuses.sort()).toEqual([200, 429, 429]);
    expect(await changesOf(patient.id)).toHaveLength(1);
  });

  it("does not limit admins, whose changes are recorded and not counted against the patient", async () => {
    const worker = workerWith({ INSURANCE_MEMBER_ID_CHANGES_PER_DAY: "1" });
    const patient = await createPatient();
    for (let i = 0; i < 3; i++) expect((await setMemberId(worker, patient, memberId("OK"), ADMIN)).status).toBe(200);
    // The patient still has their own change for the day.
    expect((await setMemberId(worker, patient, memberId("OK"))).status).toBe(200);
    expect((await setMemberId(worker, patient, memberId("OK"))).status).toBe(429);
    expect((await changesOf(patient.id)).map((c) => c.actor_role)).toEqual(["admin", "admin", "admin", "patient"]);
  });
});

describe("the record of member id changes", () => {
  it("holds each change with the old and new id, the actor's role and subject, and the server's request id", async () => {
    const worker = limited();
    const patient = await createPatient();
    const [first, second] = [memberId("OK"), memberId("OK")];
    const answers = [
      await setMemberId(worker, patient, first),
      await setMemberId(worker, patient, second, ADMIN),
      await setMemberId(worker, patient, null),
    ];
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200]);
    const [one, two, three] = answers.map((res) => res.headers.get("x-request-id"));
    const self = { actor_role: "patient", actor_sub: patient.id };
    expect(await changesOf(patient.id)).toEqual([
      { old_member_id: null, new_member_id: first, ...self, request_id: one },
      { old_member_id: first, new_member_id: second, actor_role: "admin", actor_sub: ADMIN.sub, request_id: two },
      { old_member_id: second, new_member_id: null, ...self, request_id: three },
    ]);
  });

  it("holds the id a patient was created with, and who created them", async () => {
    const patient = await createPatient({ insuranceMemberId: memberId("OK") });
    expect(await changesOf(patient.id)).toEqual([
      expect.objectContaining({ old_member_id: null, new_member_id: patient.insuranceMemberId, actor_role: "admin" }),
    ]);
  });
});
