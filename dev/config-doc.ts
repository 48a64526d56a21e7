/**
 * `npm run docs:config`: writes docs/configuration.md from the config schema
 * (functions/config/schema.ts), the one place each variable's type, default, range and meaning are
 * stated. `-- --check` exits 1 when the file is out of date instead of writing it (a test does the
 * same, so a schema change without the regenerated doc fails the suite).
 */
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { VARIABLES } from "../functions/config/schema.ts";
import type { VariableDoc } from "../functions/config/variables.ts";

export const CONFIGURATION_DOC = fileURLToPath(new URL("../docs/configuration.md", import.meta.url));

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");
const code = (text: string | undefined) => (text === undefined ? "required" : text === "" ? "empty" : `\`${text}\``);

function row(name: string, v: VariableDoc): string {
  const nameCell = v.secret ? `\`${name}\` (secret)` : `\`${name}\``;
  return `| ${nameCell} | ${cell(v.type)} | ${cell(code(v.default))} | ${cell(v.range ?? "")} | ${cell(v.description)} |`;
}

export function renderConfigurationDoc(): string {
  const groups = new Map<string, string[]>();
  for (const [name, v] of VARIABLES) {
    const rows = groups.get(v.group) ?? [];
    rows.push(row(name, v));
    groups.set(v.group, rows);
  }
  const sections = [...groups].map(
    ([group, rows]) =>
      `## ${group}\n\n| Variable | Type | Default | Range | Meaning |\n|---|---|---|---|---|\n${rows.join("\n")}\n`,
  );
  return `# Configuration

<!-- Generated from functions/config/schema.ts by \`npm run docs:config\`; edit the schema, not this file. -->

Every variable the Worker reads. Plain settings live in \`wrangler.toml\` \`[vars]\` (the defaults below);
secrets are set with \`wrangler secret put NAME\` in production and in \`.dev.vars\` locally
(\`.dev.vars.example\` lists them). \`npm run dev\` and the tests set \`DATABASE_URL\`, the local
stand-ins' URLs and a fresh \`AUTH_JWT_SECRET\` themselves.

The Worker parses all of them once per isolate; a value out of range or of the wrong type fails every
request with a configuration error that names the variable (never its value).

${sections.join("\n")}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const doc = renderConfigurationDoc();
  if (process.argv.includes("--check")) {
    const current = await readFile(CONFIGURATION_DOC, "utf8").catch(() => "");
    if (current !== doc) {
      console.error("docs/configuration.md is out of date: run npm run docs:config");
      process.exit(1);
    }
  } else {
    await writeFile(CONFIGURATION_DOC, doc);
    console.log(`wrote ${CONFIGURATION_DOC} (${VARIABLES.size} variables)`);
  }
}
