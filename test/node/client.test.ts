/**
 * The typed client never drifts from the contract: client/openapi.json and client/schema.d.ts are
 * exactly what `npm run client:generate` makes of the Worker's /openapi.json today, and every
 * operation carries the stable camelCase operationId that generated clients name methods after.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, test } from "vitest";
import { contractFiles } from "../../dev/contract.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HTTP_METHODS = ["get", "put", "post", "delete", "patch"];

describe("the generated client", () => {
  let generated: Record<string, string>;

  beforeAll(async () => {
    generated = await contractFiles();
    // Importing the whole Worker (transformed on the fly) takes seconds on a busy 2-core CI box.
  }, 60_000);

  for (const path of ["client/openapi.json", "client/schema.d.ts"]) {
    test(`${path} is what npm run client:generate makes of the Worker`, async () => {
      const committed = await readFile(`${ROOT}/${path}`, "utf8");
      expect(committed === generated[path], `${path} is stale: run npm run client:generate`).toBe(true);
    });
  }

  test("every operation has a unique camelCase operationId", () => {
    const doc = JSON.parse(generated["client/openapi.json"]!) as { paths: Record<string, Record<string, unknown>> };
    const ids = Object.values(doc.paths).flatMap((item) =>
      HTTP_METHODS.flatMap((m) => (item[m] ? [(item[m] as { operationId?: string }).operationId] : [])),
    );
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-zA-Z]+$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
