/**
 * Stands in for zod's `locales` index in the deployed bundle (wrangler.toml `[alias]`): zod's
 * `z.locales` namespace re-exports every language's error messages (≈ 260 KiB minified), which
 * `@hono/zod-openapi`'s `import { z }` drags into the bundle and every new isolate would parse.
 * The API answers in English only and never calls `z.config(z.locales.…())`, so English is all it
 * keeps. test/unit/bundle-alias.test.ts fails if the alias stops matching zod's import.
 */
export { default as en } from "zod/v4/locales/en.js";
