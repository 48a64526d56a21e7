/**
 * Layers point one way, core/ <- db/ <- functions/, and `npm run lint` is what holds them there:
 * these run the project's own ESLint configuration on a back-import placed in a real module.
 */
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const eslint = new ESLint({ cwd: new URL("../..", import.meta.url).pathname });

/** The rules `source`, linted as if it were the file at `path`, reports. */
async function rulesBroken(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: path });
  return (result?.messages ?? []).map((m) => m.ruleId ?? "parse-error");
}

const RESTRICTED = "@typescript-eslint/no-restricted-imports";

describe("the layer rule in npm run lint", () => {
  it("fails a db/ module that imports from functions/", async () => {
    const source = 'import type { AppEnv } from "../functions/env.ts";\nexport type Env2 = AppEnv;\n';
    expect(await rulesBroken("db/stats.ts", source)).toContain(RESTRICTED);
  });

  it("fails a db/ module that imports Hono", async () => {
    const source = 'import type { Context } from "hono";\nexport type C = Context;\n';
    expect(await rulesBroken("db/stats.ts", source)).toContain(RESTRICTED);
  });

  it("fails a core/ module that imports from db/, functions/ or a framework", async () => {
    for (const from of ["../db/client.ts", "../functions/env.ts", "hono", "drizzle-orm"]) {
      const source = `import type * as m from "${from}";\nexport type M = typeof m;\n`;
      expect(await rulesBroken("core/log.ts", source), from).toContain(RESTRICTED);
    }
  });

  it("lets functions/ import core/ and db/", async () => {
    const source =
      'import { log } from "../core/log.ts";\nimport { RequestDb } from "../db/client.ts";\nexport const uses = [log, RequestDb];\n';
    expect(await rulesBroken("functions/app.ts", source)).not.toContain(RESTRICTED);
  });
});
