/**
 * `npm run dev` with one of its ports already taken stops before starting anything, and says in one
 * line which port, what it was for, which program holds it and how to move it: no stack trace.
 */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { devEnv, distinctFreePorts, removeTempDataDirs, startDev, tempDataDir, within } from "./dev-harness.ts";

let holder: Server;
let taken: number;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const [worker, postgres, bridge, sql, insurance] = await distinctFreePorts(5);
  taken = bridge!;
  holder = createServer();
  await new Promise<void>((resolve) => holder.listen(taken, "127.0.0.1", resolve));
  env = devEnv({
    DEV_DATA_DIR: await tempDataDir(),
    PORT: String(worker),
    DEV_PG_PORT: String(postgres),
    DEV_BRIDGE_PORT: String(bridge),
    DEV_SQL_PORT: String(sql),
    DEV_INSURANCE_PORT: String(insurance),
  });
});

afterAll(async () => {
  holder.close();
  await removeTempDataDirs();
});

test("a taken port stops dev with one line naming the port, its use, its holder and the fix", async () => {
  const dev = startDev(env);
  const { code } = await within(dev.exited, 60_000, () => `dev did not stop:\n${dev.output()}`);
  expect(code).toBe(1);
  const lines = dev.output().trim().split("\n");
  expect(lines, dev.output()).toEqual([
    `[dev] port ${taken} (the WebSocket bridge) is taken by ${lines[0]!.match(/by (.+ \(pid \d+\))/)?.[1]}: stop it, or start with DEV_BRIDGE_PORT=<another port>`,
  ]);
  expect(lines[0]).toContain(`(pid ${process.pid})`);
});
