import { Validator, type Schema } from "@cfworker/json-schema";
import { expect } from "vitest";

/**
 * Contract assertions: an answer's status is one its operation documents, and a 2xx JSON body
 * matches the operation's response schema (JSON Schema 2020-12, as OpenAPI 3.1 writes it; validated
 * by @cfworker/json-schema, which needs no code generation, so it runs in workerd).
 */

interface Answer {
  content?: Record<string, { schema?: Schema }>;
}

/** The parts of /openapi.json these assertions read. */
export interface ContractDocument {
  paths: Record<string, Record<string, { responses?: Record<string, Answer> }>>;
  components?: { schemas?: Record<string, Schema> };
}

const validators = new WeakMap<ContractDocument, Map<string, Validator>>();

/** A validator of one response schema, whose $refs resolve against the document's components. */
function validatorFor(document: ContractDocument, key: string, schema: Schema): Validator {
  let byKey = validators.get(document);
  if (!byKey) validators.set(document, (byKey = new Map<string, Validator>()));
  let validator = byKey.get(key);
  if (!validator) {
    // "#/components/schemas/…" points into the root: give the root the document's components.
    const root = { ...schema, components: document.components ?? {} } as Schema;
    validator = new Validator(root, "2020-12", false);
    byKey.set(key, validator);
  }
  return validator;
}

/**
 * Asserts that `method template` documents `res.status`, and that a 2xx JSON answer's body (`text`)
 * matches the schema documented for that status. `shown` describes the case in failure messages.
 */
export function expectInContract(
  document: ContractDocument,
  method: string,
  template: string,
  res: Response,
  text: string,
  shown: () => string,
): void {
  const responses = document.paths[template]?.[method.toLowerCase()]?.responses ?? {};
  const documented = Object.keys(responses);
  expect(documented, `${method} ${template} does not document ${res.status}: ${shown()}`).toContain(String(res.status));
  if (res.status < 200 || res.status >= 300) return;
  const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
  if (mediaType !== "application/json") return;
  const schema = responses[String(res.status)]?.content?.["application/json"]?.schema;
  expect(schema, `${method} ${template} ${res.status} documents no JSON schema`).toBeDefined();
  const result = validatorFor(document, `${method} ${template} ${res.status}`, schema!).validate(JSON.parse(text));
  const errors = result.errors.map((e) => `${e.instanceLocation}: ${e.error}`);
  expect(errors, `${method} ${template} ${res.status} body does not match its schema: ${shown()}`).toEqual([]);
}
