/**
 * The incident lab's bad patterns (lab/worker/) exist only in the lab's own Worker entry: the
 * production Worker (wrangler.toml's main) answers every one of them 404, even to an admin, whatever
 * its configuration, because it never imports them.
 */
import { describe, it } from "vitest";
import { LAB_POLICY } from "../../../lab/worker/policy.ts";
import { call, expectProblem } from "../../helpers/api.ts";

describe("the lab's routes on the production Worker", () => {
  for (const operation of Object.keys(LAB_POLICY)) {
    const path = operation.split(" ")[1]!;
    it(`answers 404 to an admin for ${path}`, async () => {
      const res = await call(`${path}?bounded=0&deadline=0`);
      await expectProblem(res, 404);
    });
  }
});
