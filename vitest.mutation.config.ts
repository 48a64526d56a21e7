import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The unit tests of the modules that need no database, in Node rather than workerd, for mutation
 * testing (stryker.config.json): Stryker's vitest runner drives one plain project. `npm test` runs
 * the same files in workerd as before.
 */
export default defineConfig({
  // Test ids with Vitest 5's " > " between names, as test/mutation/vitest5-names.js does in the runner.
  plugins: [
    {
      name: "stryker-vitest5-test-names",
      transform(code, id) {
        return /stryker-setup-\d+\.js$/.test(id) ? code.replace("nameParts.join(' ')", "nameParts.join(' > ')") : null;
      },
    },
  ],
  resolve: {
    alias: { "cloudflare:workers": fileURLToPath(new URL("./test/mutation/workers-env.ts", import.meta.url)) },
  },
  test: {
    name: "mutation",
    environment: "node",
    include: [
      "test/unit/deadline.test.ts",
      "test/unit/preconditions.test.ts",
      "test/unit/pagination.test.ts",
      "test/unit/circuit.test.ts",
      "test/unit/auth.test.ts",
      "test/unit/config.test.ts",
      // The schema's descriptions and defaults are checked against docs/configuration.md and wrangler.toml here.
      "test/node/configuration.test.ts",
      // The policy table's entries are checked against docs/security.md's matrix here.
      "test/unit/policy-doc.test.ts",
    ],
  },
});
