import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "dist/",
      ".wrangler/",
      ".data/",
      "worker-configuration.d.ts",
      "drizzle/",
      "reports/",
      ".stryker-tmp/",
      "client/schema.d.ts",
      "public/docs/assets/api-reference.js",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: [
          "./tsconfig.json",
          "./dev/tsconfig.json",
          "./test/tsconfig.json",
          "./bench/workers/tsconfig.json",
          "./lab/worker/tsconfig.json",
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  // Layers point one way: core/ <- db/ <- functions/. A back-import fails lint (and so CI).
  {
    files: ["core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "(^|/)(db|functions)/|^(hono|@hono/|drizzle-orm|@neondatabase/)",
              message: "core/ is the lowest layer: no db/, functions/, Hono, Drizzle or driver imports.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["db/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "(^|/)functions/|^(hono|@hono/)",
              message:
                "db/ imports core/ (and Drizzle, the driver) only: the database layer does not know the HTTP layer.",
            },
          ],
        },
      ],
    },
  },
  { files: ["**/*.js"], extends: [tseslint.configs.disableTypeChecked] },
);
