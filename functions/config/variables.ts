import { z } from "zod";

/**
 * Builders for the config schema (schema.ts): each makes a variable's validator and records its
 * documentation from the same arguments, so the two cannot disagree.
 */

export interface VariableDoc {
  group: string;
  /** What the value is, as a reader would write it: "integer", "URL", `"http" | "ws"`. */
  type: string;
  /** The default as set in wrangler.toml; undefined: required, or empty means off. */
  default: string | undefined;
  /** Allowed values beyond the type, e.g. "100–60000". */
  range: string | undefined;
  /** A secret: set with `wrangler secret put` (production) or .dev.vars (local), never in [vars]. */
  secret: boolean;
  description: string;
}

type Doc = Pick<VariableDoc, "description"> & Partial<Pick<VariableDoc, "secret">>;

/** Keyed by the validator; the variable's name and group are attached by section() and documentationOf(). */
const recorded = new WeakMap<object, VariableDoc>();

export function documented<T extends z.ZodType>(
  schema: T,
  shape: Pick<VariableDoc, "type" | "default" | "range">,
  doc: Doc,
): T {
  recorded.set(schema, { group: "", secret: false, ...shape, ...doc });
  return schema;
}

const fmt = (n: number) => String(n);

/**
 * A blank value ("" or spaces: `NAME=` in .dev.vars or a secret store) means unset, so it takes the
 * default; coerced as it is, it would become 0, which turns some limits off.
 */
const blankIsUnset = (value: unknown) => (typeof value === "string" && value.trim() === "" ? undefined : value);

/** An integer in [min, max] (env values are strings; coerced). */
export function int(min: number, max: number, fallback: number, doc: Doc) {
  return documented(
    z.preprocess(blankIsUnset, z.coerce.number().int().min(min).max(max).default(fallback)),
    { type: "integer", default: fmt(fallback), range: `${fmt(min)}–${fmt(max)}` },
    doc,
  );
}

export function ratio(fallback: number, doc: Doc) {
  return documented(
    z.preprocess(blankIsUnset, z.coerce.number().min(0).max(1).default(fallback)),
    { type: "number", default: fmt(fallback), range: "0–1" },
    doc,
  );
}

export function oneOf<const V extends readonly [string, ...string[]]>(values: V, fallback: V[number], doc: Doc) {
  return documented(
    z.enum(values).default(fallback as never),
    { type: values.map((v) => `"${v}"`).join(" | "), default: fallback, range: undefined },
    doc,
  );
}

export const HTTP_URL = z
  .string()
  .url()
  .regex(/^https?:\/\//);

/** An http(s) URL, or empty for "not set". */
export function optionalUrl(doc: Doc) {
  return documented(
    z.union([z.literal(""), HTTP_URL]).default(""),
    { type: "URL", default: "", range: "http(s)" },
    doc,
  );
}

/** A comma-separated list, items trimmed, empty ones dropped ("" is the empty list). */
export function commaList(fallback = "", map: (item: string) => string = (item) => item) {
  return z
    .string()
    .default(fallback)
    .transform((v) =>
      v
        .split(",")
        .map((item) => map(item.trim()))
        .filter((item) => item !== ""),
    );
}

export function text(fallback: string, doc: Doc, schema: z.ZodString = z.string(), range?: string) {
  return documented(schema.default(fallback), { type: "string", default: fallback, range }, doc);
}

/** Puts every variable of `shape` under one heading of the generated doc. */
export function section<T extends z.ZodRawShape>(group: string, shape: T): T {
  for (const schema of Object.values(shape)) {
    const doc = recorded.get(schema);
    if (doc) doc.group = group;
  }
  return shape;
}

/** Each variable's documentation by name, in the shape's order; a variable built without one is a bug. */
export function documentationOf(shape: z.ZodRawShape): ReadonlyMap<string, VariableDoc> {
  return new Map(
    Object.entries(shape).map(([name, schema]) => {
      const doc = recorded.get(schema);
      if (!doc?.group) throw new Error(`${name} has no documentation or section`);
      return [name, doc] as const;
    }),
  );
}
