/**
 * Stands in for zod's `z.compile` module in the deployed bundle (wrangler.toml `[alias]`): an
 * ahead-of-time schema compiler (≈ 31 KiB minified) the API never calls, kept in the bundle only
 * because `@hono/zod-openapi` re-exports zod's whole namespace. `compile()` keeps its documented
 * contract for a schema it cannot speed up (the schema, unchanged, on the runtime parser); the
 * rest refuses. test/unit/bundle-alias.test.ts checks the alias matches zod's import only.
 */
import { ZodCompileUnsupportedError } from "./zod-compile-errors.ts";

export { ZodCompileAsyncError, ZodCompileUnsupportedError } from "./zod-compile-errors.ts";

/** zod's own sentinel, by its registered name, so any code comparing with it still agrees. */
export const INVALID = Symbol.for("zod.compile.invalid");

export function compile<T>(schema: T): T {
  return schema;
}

export function withParser(): never {
  throw new ZodCompileUnsupportedError("z.withParser (not in this bundle)", false);
}

export function compileFn(): never {
  throw new ZodCompileUnsupportedError("z.compile's code generation (not in this bundle)", false);
}
