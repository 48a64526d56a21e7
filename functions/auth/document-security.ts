import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env.ts";
import type { Policy, Rule } from "./policy.ts";

type Document = ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>;
type Operation = {
  security?: Array<Record<string, string[]>>;
  description?: string;
  responses?: Record<string, unknown>;
};

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;
const PROBLEM = { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } };

function who(rule: Rule): string {
  if (rule.allow === "public") return "anyone, without a token";
  const owned = rule.owner ? " (patients and doctors: their own only; another's is 404)" : "";
  const restricted = rule.restrict
    ? `; with ${Object.entries(rule.restrict.query)
        .map(([k, v]) => `${k}=${v}`)
        .join("&")}: ${rule.restrict.allow.join(", ")}`
    : "";
  return `${rule.allow.join(", ")}${owned}${restricted}`;
}

/**
 * Writes the policy into the generated document: `security` per operation (none for public ones,
 * optional where a query value raises the requirement), the 401 and 403 answers, and who may call.
 */
export function documentSecurity(doc: Document, policy: Policy): Document {
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = (item as Partial<Record<(typeof METHODS)[number], Operation>>)[method];
      const rule = policy[`${method.toUpperCase()} ${path}`];
      if (!op || !rule) continue;
      op.description = `${op.description ? `${op.description}\n\n` : ""}Who may call: ${who(rule)}.`;
      if (rule.allow === "public" && !rule.restrict) {
        op.security = [];
        // A token is not needed, but one that is sent must verify.
        op.responses = {
          ...op.responses,
          401: { description: "A token was sent and does not verify", content: PROBLEM },
        };
        continue;
      }
      // `{}` in the list makes the token optional (public, unless the query asks for more).
      op.security = rule.allow === "public" ? [{}, { bearer: [] }] : [{ bearer: [] }];
      op.responses = {
        ...op.responses,
        401: { description: "No token, or one that does not verify (WWW-Authenticate says why)", content: PROBLEM },
        403: { description: "The caller's role may not do this", content: PROBLEM },
      };
    }
  }
  return doc;
}
