/**
 * `npm run dev` as root from a checkout under a 0700 directory (root's home on Debian and Ubuntu,
 * `mktemp -d`): the embedded cluster runs as the `postgres` user, who cannot reach that checkout's
 * binaries or data directory, so dev/postgres-access.ts puts both under /var/lib/clinic-edge/. The
 * checkout is a copy of this one (node_modules hard-linked, so its files really are inside the
 * 0700 directory) with the default data directory, started as the README says.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { reachableDataDir, SHARED_DIR } from "../../dev/postgres-access.ts";
import { devEnv, distinctFreePorts, isRunning, killGroup, ROOT, startDev, type Dev } from "./dev-harness.ts";

const STARTUP_LIMIT_MS = 120_000;
const AS_ROOT = process.getuid?.() === 0;

describe.skipIf(!AS_ROOT)("npm run dev as root from a 0700 directory", () => {
  let home: string;
  let checkout: string;
  let dev: Dev | undefined;
  let origin: string;

  beforeAll(async () => {
    // Under the repository: mkdtemp makes it 0700, and hard links need the same file system.
    await mkdir(join(ROOT, ".data"), { recursive: true });
    home = await mkdtemp(join(ROOT, ".data", "root-home-"));
    checkout = join(home, "clinic-edge");
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" });
    execFileSync("mkdir", ["-p", checkout]);
    execFileSync("sh", ["-c", `tar -C "$1" --null -T - -cf - | tar -C "$2" -xf -`, "sh", ROOT, checkout], {
      input: files
        .split("\0")
        .filter((f) => f && !f.startsWith("node_modules"))
        .join("\0"),
    });
    execFileSync("cp", ["-al", join(ROOT, "node_modules"), join(checkout, "node_modules")]);
    const [worker, postgres, bridge, sql, insurance, inspector] = await distinctFreePorts(6);
    origin = `http://127.0.0.1:${worker}`;
    const env = devEnv({
      PORT: String(worker),
      DEV_PG_PORT: String(postgres),
      DEV_BRIDGE_PORT: String(bridge),
      DEV_SQL_PORT: String(sql),
      DEV_INSURANCE_PORT: String(insurance),
    });
    delete env.DEV_DATA_DIR;
    dev = startDev(env, ["--inspector-port", String(inspector!)], checkout);
  }, 120_000);

  afterAll(async () => {
    killGroup(dev?.child.pid);
    await sleep(500);
    // Where the cluster went (asked while the checkout still exists), then the checkout.
    const cluster = join(reachableDataDir(join(checkout, ".data", "postgres")), "..");
    await rm(home, { recursive: true, force: true });
    if (cluster.startsWith(SHARED_DIR)) await rm(cluster, { recursive: true, force: true });
  });

  test("the checkout really is out of other users' reach", async () => {
    expect((await stat(home)).mode & 0o777).toBe(0o700);
  });

  test(
    "starts, and serves the seeded doctors",
    async () => {
      const deadline = Date.now() + STARTUP_LIMIT_MS;
      let up = false;
      while (!up && Date.now() < deadline && isRunning(dev!.child)) {
        up = (await fetch(`${origin}/healthz`).catch(() => undefined))?.status === 200;
        if (!up) await sleep(500);
      }
      expect(up, `no /healthz within ${STARTUP_LIMIT_MS} ms:\n${dev!.output()}`).toBe(true);
      expect(dev!.output()).toMatch(/the cluster's data is in \/var\/lib\/clinic-edge\//);
      expect(dev!.output()).not.toMatch(/EACCES|failed to start/);
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(checkout, "dev", "token.ts"), "--role", "admin"],
        {
          cwd: checkout,
          env: devEnv({}),
        },
      );
      const res = await fetch(`${origin}/doctors?limit=5`, { headers: { authorization: `Bearer ${stdout.trim()}` } });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { data: unknown[] };
      expect(page.data).toHaveLength(5);
    },
    STARTUP_LIMIT_MS + 30_000,
  );
});
