/**
 * The quick-start promise of `npm run dev` (dev/dev.ts), its lock: a second instance is refused while
 * the first runs, and touches nothing of it. The stack itself, from start to Ctrl-C: dev.test.ts.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import {
  devEnv,
  distinctFreePorts,
  isRunning,
  killGroup,
  removeTempDataDirs,
  startDev,
  tempDataDir,
  within,
  type Dev,
} from "./dev-harness.ts";

describe("npm run dev", () => {
  afterAll(removeTempDataDirs);

  describe("while another instance runs", () => {
    let second: Dev | undefined;
    afterEach(() => {
      if (second && isRunning(second.child)) killGroup(second.child.pid);
    });

    test("refuses to start, says it is already running, and exits non-zero", async () => {
      const dataDir = await tempDataDir();
      const lockFile = join(dataDir, "dev.pid");
      // This test process stands for the running instance: its pid is alive.
      await writeFile(lockFile, String(process.pid));
      const [port] = await distinctFreePorts(1);

      second = startDev(devEnv({ DEV_DATA_DIR: dataDir, PORT: String(port) }));
      const { code } = await within(second.exited, 30_000, () => `dev.ts did not exit:\n${second?.output()}`);

      expect(code, second.output()).toBe(1);
      expect(second.output()).toMatch(/already running \(pid \d+\)/);
      expect(second.output()).toContain(`pid ${process.pid}`);
      // Nothing was started, and the running instance keeps its lock.
      expect(existsSync(join(dataDir, "postgres"))).toBe(false);
      expect(await readFile(lockFile, "utf8")).toBe(String(process.pid));
    });
  });
});
