/**
 * The deployed bundle leaves out the parts of zod the API never uses (wrangler.toml `[alias]`,
 * functions/bundle/): the bundle is built as `npm run build` builds it, and its esbuild metafile
 * shows which modules went in and who imported what. If zod renames or moves a module, the alias
 * stops matching and the dropped code silently comes back: these tests fail instead.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { unstable_readConfig } from "wrangler";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

interface Metafile {
  inputs: Record<string, { imports?: Array<{ path: string; original?: string }> }>;
}

/** Where each alias stands in for zod: wrangler.toml's keys, and the stand-in's module path. */
function aliases(): Record<string, string> {
  const config: unknown = unstable_readConfig({ config: join(ROOT, "wrangler.toml") });
  const alias = typeof config === "object" && config !== null && "alias" in config ? config.alias : undefined;
  if (typeof alias !== "object" || alias === null) throw new Error("wrangler.toml has no [alias]");
  return Object.fromEntries(Object.entries(alias).map(([from, to]) => [from, String(to).replace(/^\.\//, "")]));
}

/** One of zod's own files (not all are in its package exports), by a non-literal specifier. */
const zodFile = (path: string): Promise<Record<string, unknown>> =>
  import(pathToFileURL(join(ROOT, "node_modules", "zod", path)).href) as Promise<Record<string, unknown>>;

/** zod's files end up under a node_modules/zod/ directory, whichever node_modules it is. */
const isZod = (input: string): boolean => /(^|\/)node_modules\/zod\//.test(input);

let dir = "";
let meta: Metafile;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "clinic-edge-bundle-"));
  await promisify(execFile)(
    process.execPath,
    [WRANGLER, "deploy", "--dry-run", "--outdir", dir, "--minify", "--metafile", join(dir, "meta.json")],
    { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
  );
  meta = JSON.parse(await readFile(join(dir, "meta.json"), "utf8")) as Metafile;
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the bundle's zod aliases", () => {
  test("each alias replaces at least one of zod's imports", () => {
    for (const [from, to] of Object.entries(aliases())) {
      const redirected = Object.entries(meta.inputs).filter(([importer, input]) =>
        (input.imports ?? []).some((i) => i.original === from && i.path === to && isZod(importer)),
      );
      expect(redirected.length, `"${from}" → ${to}`).toBeGreaterThan(0);
    }
  });

  test("only zod's own files are redirected to a stand-in", () => {
    const targets = new Set(Object.values(aliases()));
    const importers = Object.entries(meta.inputs)
      .filter(([, input]) => (input.imports ?? []).some((i) => targets.has(i.path) && i.original?.startsWith(".")))
      .map(([importer]) => importer);
    expect(importers.filter((importer) => !isZod(importer))).toEqual([]);
  });

  test("no other language than English, z.compile or z.fromJSONSchema is in the bundle", () => {
    const dropped = Object.keys(meta.inputs).filter(
      (input) =>
        isZod(input) &&
        (/\/v4\/locales\/(?!en\.js$)/.test(input) ||
          input.endsWith("/v4/core/compile.js") ||
          input.endsWith("/v4/classic/from-json-schema.js")),
    );
    expect(dropped).toEqual([]);
  });
});

describe("the stand-ins export what zod's modules export", () => {
  // zod re-exports these modules' names into `z`; a name missing from a stand-in would turn into
  // undefined (export *) or a build error (a named re-export).
  test.each([
    ["v4/core/compile.js", "../../functions/bundle/zod-compile.ts"],
    ["v4/classic/from-json-schema.js", "../../functions/bundle/zod-from-json-schema.ts"],
  ])("zod/%s", async (original, standIn) => {
    const zodModule = await zodFile(original);
    const ours = (await import(standIn)) as Record<string, unknown>;
    expect(Object.keys(ours).sort()).toEqual(Object.keys(zodModule).sort());
  });

  test("English messages are zod's own", async () => {
    const { en } = (await import("../../functions/bundle/zod-locales.ts")) as { en: unknown };
    const zodEn = (await import("zod/v4/locales/en.js")) as { default: unknown };
    expect(en).toBe(zodEn.default);
  });

  test("z.compile's sentinel is zod's", async () => {
    const ours = (await import("../../functions/bundle/zod-compile.ts")) as { INVALID: symbol };
    expect(ours.INVALID).toBe((await zodFile("v4/core/compile.js")).INVALID);
  });
});
