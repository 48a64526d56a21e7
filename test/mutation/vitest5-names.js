/**
 * Preloaded into Stryker's processes (npm run test:mutation): its vitest runner joins a test's
 * suite and test names with " ", but Vitest 5 matches `testNamePattern` against names joined with
 * " > ", so every per-test run selected no test and every mutant "survived"
 * (stryker-mutator/stryker-js#6210, fix proposed in #6220). This rewrites that one join as it loads;
 * vitest.mutation.config.ts does the same to the setup file Stryker copies next to the tests.
 * Remove it once a released runner carries the fix.
 */
import { register } from "node:module";

register("./vitest5-names-hook.js", import.meta.url);
