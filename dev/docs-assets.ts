/**
 * The API reference's script, served by Workers static assets (wrangler.toml [assets]) rather than
 * bundled into the Worker or loaded from a CDN: @scalar/api-reference's standalone build, at the
 * exact version package.json pins, copied to public/docs/assets/ (git-ignored). `npm ci` runs this
 * (prepare), and so do `npm run dev`, the tests' config and `npm run build` in case it is missing.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DOCS_ASSET = join(ROOT, "public", "docs", "assets", "api-reference.js");

/** Copies the pinned standalone script into public/ unless an identical copy is there. */
export function ensureDocsAssets(): string {
  // The package's exports map hides both files, so they are read from where npm installs it.
  const packageDir = join(ROOT, "node_modules", "@scalar", "api-reference");
  const packageJson = join(packageDir, "package.json");
  const source = join(packageDir, "dist", "browser", "standalone.js");
  if (!existsSync(source)) throw new Error(`${source} is missing: run npm ci`);
  const current = existsSync(DOCS_ASSET) && statSync(DOCS_ASSET).size === statSync(source).size;
  if (!current || !readFileSync(DOCS_ASSET).equals(readFileSync(source))) {
    mkdirSync(dirname(DOCS_ASSET), { recursive: true });
    copyFileSync(source, DOCS_ASSET);
  }
  const { version } = JSON.parse(readFileSync(packageJson, "utf8")) as { version: string };
  return version;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`[docs-assets] @scalar/api-reference ${ensureDocsAssets()} -> public/docs/assets/api-reference.js`);
}
