/**
 * Configuration is stated once, in functions/config/schema.ts: docs/configuration.md is generated
 * from it, and wrangler.toml's [vars] must carry the same defaults. Any drift fails here.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CONFIGURATION_DOC, renderConfigurationDoc } from "../../dev/config-doc.ts";
import { VARIABLES } from "../../functions/config/schema.ts";

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), "utf8");

/** `NAME = "value"` lines of a TOML table (wrangler.toml's [vars] holds only strings). */
function tomlTable(text: string, table: string): Map<string, string> {
  const body = text.split(/^\[/m).find((part) => part.startsWith(`${table}]`)) ?? "";
  return new Map([...body.matchAll(/^([A-Z][A-Z0-9_]*) = "(.*)"$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe("configuration", () => {
  it("docs/configuration.md is what the schema generates (npm run docs:config)", async () => {
    expect(await readFile(CONFIGURATION_DOC, "utf8")).toBe(renderConfigurationDoc());
  });

  it("wrangler.toml [vars] sets every plain variable to the schema's default, and nothing else", async () => {
    const vars = tomlTable(await read("wrangler.toml"), "vars");
    const plain = [...VARIABLES].filter(([, v]) => !v.secret && v.default !== undefined);
    expect(Object.fromEntries(vars)).toEqual(Object.fromEntries(plain.map(([name, v]) => [name, v.default])));
  });

  it("wrangler.toml turns Workers' invocation logs off, which would store query strings (emails)", async () => {
    const logs = (await read("wrangler.toml")).split(/^\[/m).find((part) => part.startsWith("observability.logs]"));
    expect(logs).toMatch(/^invocation_logs = false$/m);
  });

  it(".dev.vars.example lists secrets only", async () => {
    const names = [...(await read(".dev.vars.example")).matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(VARIABLES.get(name)?.secret, name).toBe(true);
  });
});
