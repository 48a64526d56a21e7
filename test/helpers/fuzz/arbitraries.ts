/**
 * What the fuzz (test/integration/security/fuzz.test.ts) reads from the contract and the hostile values
 * it sends, none of it tied to a fixture: the JSON schemas and operations of an /openapi.json document,
 * strings, numbers and values of the wrong kind, and header and content-type arbitraries. Every string
 * made here carries the placeholder M, which cases.ts `withMarker` turns into the case's marker.
 */
import fc from "fast-check";

/** Replaced in every request by a marker unique to the case. */
export const M = "{{M}}";

// ---------- the contract --------------------------------------------------------------------

export interface JsonSchema {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

export interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema?: JsonSchema;
}

export interface Operation {
  key: string;
  method: string;
  template: string;
  pathParams: string[];
  query: Parameter[];
  body: JsonSchema | undefined;
}

/** The parts of an /openapi.json document the fuzz reads. */
export interface OpenApiDocument {
  paths: Record<
    string,
    Record<string, { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>
  >;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** A schema with its $ref followed and its allOf merged. */
export type Resolve = (schema: JsonSchema | undefined) => JsonSchema;

/** Resolves schemas against `document`'s components. */
export function resolverOf(document: OpenApiDocument): Resolve {
  const resolve: Resolve = (schema) => {
    if (!schema) return {};
    if (schema.$ref) return resolve(document.components?.schemas?.[schema.$ref.split("/").pop()!]);
    if (schema.allOf) return Object.assign({}, ...schema.allOf.map(resolve)) as JsonSchema;
    return schema;
  };
  return resolve;
}

/** Every operation `document` lists, with its JSON body's schema resolved. */
export function operationsOf(document: OpenApiDocument): Operation[] {
  const resolve = resolverOf(document);
  return Object.entries(document.paths).flatMap(([template, item]) =>
    Object.entries(item)
      .filter(([method]) => ["get", "put", "post", "delete", "patch"].includes(method))
      .map(([method, op]) => ({
        key: `${method.toUpperCase()} ${template}`,
        method: method.toUpperCase(),
        template,
        pathParams: [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
        query: (op.parameters ?? []).filter((p) => p.in === "query"),
        body: op.requestBody ? resolve(op.requestBody.content?.["application/json"]?.schema) : undefined,
      })),
  );
}

// ---------- hostile values ------------------------------------------------------------------

export const INJECTIONS = [
  "' OR 1=1 --",
  "1; DROP TABLE doctors",
  "'; DELETE FROM appointments; --",
  '" OR ""="',
  "1' UNION SELECT email FROM patients --",
  "$1",
  "%",
  "_",
  "\\",
  "../../etc/passwd",
  "<script>alert(1)</script>",
  "${7*7}",
  "null",
  "undefined",
  "NaN",
  "-0",
  "1e999",
  "0x10",
  "９",
  "",
  " ",
];

/** Unicode a client can send: NUL, RTL override, zero-width, emoji, combining marks, lone surrogates. */
export const UNICODE = [
  "\u0000",
  "a\u0000b",
  "\u202Eevil",
  "\u200B",
  "😀🏥",
  "👩‍⚕️",
  "e\u0301",
  "\uD800",
  "\uDFFF",
  "\uFEFF",
  "Ω≈ç√",
  "𝕏",
];

/** Any string, hostile more often than not, always carrying the case's marker. */
export const hostileString: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom(...INJECTIONS) },
    { weight: 3, arbitrary: fc.constantFrom(...UNICODE) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: 300, max: 20_000 }).map((n) => "x".repeat(n)) },
  )
  .chain((s) => fc.constantFrom(`${s}${M}`, `${M}${s}`));

/** A header value must be a ByteString: printable ASCII only. */
export const asciiString = fc.oneof(
  fc.constantFrom(...INJECTIONS.filter((s) => /^[\x20-\x7e]*$/.test(s))),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 }),
);

export const hugeNumber = fc.constantFrom(
  1e308,
  -1e308,
  2 ** 53 + 1,
  -(2 ** 63),
  2 ** 31,
  -1,
  0,
  1.5,
  Number.MIN_VALUE,
  1e-7,
);

export function deeplyNested(depth: number): unknown {
  let v: unknown = `${M}deep`;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** A value of any type but (usually) the wrong one. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hugeNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), hostileString, { maxKeys: 3 }),
  fc.constantFrom(10, 1_000, 5_000).map(deeplyNested),
  fc.jsonValue({ maxDepth: 2 }),
);

// ---------- headers -------------------------------------------------------------------------

/** A deadline short enough to expire: the client asked for it, and 504 is then the right answer. */
const isShortDeadline = (s: string) =>
  Number.isFinite(Number(s.trim())) && Number(s.trim()) > 0 && Number(s.trim()) < 5_000;

/** Each header: usually valid (so requests get further), often not. */
export const headerArbitraries: Record<string, fc.Arbitrary<string>> = {
  "x-request-timeout-ms": fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 5_000, max: 10 ** 9 }).map(String) },
    { weight: 1, arbitrary: asciiString.filter((s) => !isShortDeadline(s)) },
    { weight: 1, arbitrary: fc.constantFrom("0", "-1", "1.5", "99999999999999999999", "5000.5") },
  ),
  "if-match": fc.oneof(
    { weight: 4, arbitrary: fc.constant("*") },
    fc.nat(5).map((n) => `"${n}"`),
    fc.nat(5).map((n) => `W/"${n}"`),
    asciiString,
  ),
  "idempotency-key": fc.oneof(
    { weight: 3, arbitrary: fc.uuid().map((u) => `${u}-${M}`) },
    asciiString.map((s) => `${s}${M}`),
    fc.constant("x".repeat(1_000)),
  ),
  "x-request-id": fc.oneof({ weight: 3, arbitrary: fc.constant(M) }, asciiString),
};

export const contentTypes = fc.constantFrom(
  "application/json",
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/merge-patch+json",
  "multipart/form-data; boundary=x",
  "application/json; charset=latin1",
  "",
);
