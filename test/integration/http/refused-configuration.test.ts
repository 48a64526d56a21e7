/**
 * A Worker deployed with a setting that is unsafe in production does not serve: /readyz (and every
 * other route) answers 503, and one log line per isolate names the variable.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { newApp } from "../../../functions/app.ts";
import { ORIGIN, expectProblem } from "../../helpers/api.ts";

async function fetchWith(app: ReturnType<typeof newApp>, testEnv: Env, path: string): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(ORIGIN + path), testEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe("a configuration unsafe in production", () => {
  it("makes /readyz and every route answer 503, logging the variable's name once", async () => {
    const unsafe: Env = { ...env, METRICS_TOKEN: `short-${crypto.randomUUID().slice(0, 4)}` };
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const app = newApp();
      const ready = await expectProblem(await fetchWith(app, unsafe, "/readyz"), 503);
      expect(ready.detail).not.toContain("METRICS_TOKEN");
      await expectProblem(await fetchWith(app, unsafe, "/doctors"), 503);
      await expectProblem(await fetchWith(app, unsafe, "/healthz"), 503);

      const lines = errors.mock.calls
        .map(([line]) => JSON.parse(String(line)) as { msg: string; detail?: string })
        .filter((line) => line.msg === "configuration refused");
      expect(lines).toHaveLength(1);
      expect(lines[0]!.detail).toContain("METRICS_TOKEN (");
      expect(lines[0]!.detail).not.toContain(unsafe.METRICS_TOKEN);
    } finally {
      errors.mockRestore();
    }
  });

  it("serves as soon as the setting is waived in UNSAFE_SETTINGS_ALLOWED", async () => {
    const waived: Env = {
      ...env,
      METRICS_TOKEN: "short-token",
      UNSAFE_SETTINGS_ALLOWED: `${env.UNSAFE_SETTINGS_ALLOWED},METRICS_TOKEN`,
    };
    expect((await fetchWith(newApp(), waived, "/readyz")).status).toBe(200);
  });
});
