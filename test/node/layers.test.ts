/**
 * Layers point one way, core/ <- db/ <- functions/, and `npm run lint` is what holds them there:
 * these run the project's ESLint configuration on a back-import placed in a real module of each layer.
 */
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";

const RESTRICTED = "no-restricted-imports";

// The project's own configuration, without the rules that need type information: the import rules
// read only the source, and a typed parse would lint the file on disk, not the text given here.
const eslint = new ESLint({
  cwd: new URL("../..", import.meta.url).pathname,
  overrideConfig: tseslint.configs.disableTypeChecked,
});

/** The rules `source`, linted as if it were the file at `path`, breaks. */
async function rulesBroken(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: path });
  return (result?.messages ?? []).map((m) => m.ruleId ?? `fatal: ${m.message}`);
}

describe("the layer rule in npm run lint", () => {
  it("fails a db/ module that imports from functions/", async () => {
    const source = 'import type { AppEnv } from "../functions/env.ts";\nexport type Env2 = AppEnv;\n';
    expect(await rulesBroken("db/stats.ts", source)).toContain(RESTRICTED);
  });

  it("fails a core/ module that imports from db/", async () => {
    const source = 'import type { RequestDb } from "../db/client.ts";\nexport type Db = RequestDb;\n';
    expect(await rulesBroken("core/log.ts", source)).toContain(RESTRICTED);
  });

  it("fails a core/ module that imports a framework", async () => {
    const source = 'import type { Context } from "hono";\nexport type C = Context;\n';
    expect(await rulesBroken("core/log.ts", source)).toContain(RESTRICTED);
  });

  it("lets functions/ import core/ and db/", async () => {
    const source =
      'import { log } from "../core/log.ts";\nimport { RequestDb } from "../db/client.ts";\nexport const uses = [log, RequestDb];\n';
    expect(await rulesBroken("functions/app.ts", source)).not.toContain(RESTRICTED);
  });
});
