/**
 * The access policy is stated twice: as code (functions/auth/policy.ts, what the Worker enforces)
 * and as the matrix in docs/security.md (what operators and clients read). The security suite
 * proves the Worker enforces the code's table, whatever it says; this proves the table says what
 * the matrix says, so a changed entry fails here unless the documentation changes with it.
 */
import { describe, expect, it } from "vitest";
import { POLICY } from "../../functions/auth/policy.ts";
import securityDoc from "../../docs/security.md?raw";

interface Access {
  public: boolean;
  roles: string[];
  /** Patients or doctors reach only what is theirs by this operation's own check. */
  owned: boolean;
}

/** `GET`/`PATCH /p` names two operations; a bare `/p` takes the method before it. */
function operationsIn(cell: string): string[] {
  const spread = cell.replace(/`(\w+)`\/`(\w+) (\/[^`]+)`/g, "`$1 $3`, `$2 $3`");
  let method = "";
  return [...spread.matchAll(/`([^`]+)`/g)].map(([, op]) => {
    const [first, path] = op!.startsWith("/") ? [method, op!] : op!.split(" ");
    method = first!;
    return `${method} ${path}`;
  });
}

/** Each documented operation's "anyone" cell, where restrictions of public operations are noted. */
const anyoneNotes = new Map<string, string>();

function documentedMatrix(): Map<string, Access> {
  const lines = securityDoc.split("\n");
  const start = lines.findIndex((l) => l.startsWith("| operation | anyone | patient | doctor | admin |"));
  const matrix = new Map<string, Access>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const [ops = "", anyone = "", patient = "", doctor = "", admin = ""] = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
    const isPublic = anyone.startsWith("✓");
    const roles = isPublic
      ? []
      : [
          ...(anyone.includes("METRICS_TOKEN") ? ["metrics"] : []),
          ...(patient ? ["patient"] : []),
          ...(doctor ? ["doctor"] : []),
          ...(admin ? ["admin"] : []),
        ];
    const owned = !isPublic && [patient, doctor].some((c) => c === "own" || c === "for themselves");
    for (const op of operationsIn(ops)) {
      matrix.set(op, { public: isPublic, roles: roles.sort(), owned });
      anyoneNotes.set(op, anyone);
    }
  }
  return matrix;
}

function policyMatrix(): Map<string, Access> {
  return new Map(
    Object.entries(POLICY).map(([op, rule]) => [
      op,
      {
        public: rule.allow === "public",
        roles: rule.allow === "public" ? [] : [...rule.allow].sort(),
        owned: rule.owner !== undefined,
      },
    ]),
  );
}

describe("the access policy and docs/security.md", () => {
  it("list the same operations", () => {
    expect([...documentedMatrix().keys()].sort()).toEqual(Object.keys(POLICY).sort());
  });

  it("say the same of each: public or which roles, owned or not", () => {
    expect(Object.fromEntries(policyMatrix())).toEqual(Object.fromEntries(documentedMatrix()));
  });

  it("note every admins-only query of a public operation", () => {
    documentedMatrix();
    const restricted = Object.entries(POLICY).flatMap(([op, rule]) =>
      rule.restrict ? [[op, Object.entries(rule.restrict.query).map(([k, v]) => `${k}=${v}`)] as const] : [],
    );
    expect(restricted.length).toBeGreaterThan(0);
    for (const [op, queries] of restricted) {
      for (const q of queries) expect(anyoneNotes.get(op), op).toContain(q);
      expect(anyoneNotes.get(op), op).toContain("admins only");
    }
  });
});
