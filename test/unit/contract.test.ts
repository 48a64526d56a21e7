/** The fuzz suite's contract assertions (test/helpers/contract.ts) on their own: they must be able to fail. */
import { describe, expect, it } from "vitest";
import { expectInContract, type ContractDocument } from "../helpers/contract.ts";

const DOCUMENT: ContractDocument = {
  paths: {
    "/things/{id}": {
      get: {
        responses: {
          "200": { content: { "application/json": { schema: { $ref: "#/components/schemas/Thing" } } } },
          "404": { content: { "application/problem+json": { schema: {} } } },
        },
      },
    },
  },
  components: {
    schemas: {
      Thing: {
        type: "object",
        properties: { id: { type: "string", format: "uuid" }, version: { type: "integer" } },
        required: ["id", "version"],
      },
    },
  },
};

const answer = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const check = (status: number, body: unknown) =>
  expectInContract(DOCUMENT, "GET", "/things/{id}", answer(status, body), JSON.stringify(body), () => "case");

describe("expectInContract", () => {
  it("accepts a documented status whose body matches the referenced schema", () => {
    expect(() => check(200, { id: crypto.randomUUID(), version: 1 })).not.toThrow();
    expect(() => check(404, { title: "not found" })).not.toThrow();
  });

  it("fails on a status the operation does not document", () => {
    expect(() => check(409, {})).toThrow(/does not document 409/);
  });

  it("fails on a 2xx body that breaks the schema: a missing field, a wrong type, a bad format", () => {
    expect(() => check(200, { id: crypto.randomUUID() })).toThrow(/does not match its schema/);
    expect(() => check(200, { id: crypto.randomUUID(), version: "1" })).toThrow(/does not match its schema/);
    expect(() => check(200, { id: "not-a-uuid", version: 1 })).toThrow(/does not match its schema/);
  });
});
