/**
 * Stands in for zod's `z.fromJSONSchema` module in the deployed bundle (wrangler.toml `[alias]`):
 * a JSON Schema → zod converter (≈ 12 KiB minified) the API never calls, kept in the bundle only
 * because `@hono/zod-openapi` re-exports zod's whole namespace. test/unit/bundle-alias.test.ts
 * checks the alias matches zod's import only.
 */
export function fromJSONSchema(): never {
  throw new Error("z.fromJSONSchema is not in this bundle (functions/bundle/zod-from-json-schema.ts)");
}
