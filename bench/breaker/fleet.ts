/** bench:breaker's Workers: `isolates` per mode, each mode configured by its breaker variables. */
import { dirname } from "node:path";
import type { V4WorkerOptions } from "miniflare";
import { BUILT_WORKER, type WranglerSettingsT } from "../lib/stack.ts";

export type Mode = "shared" | "isolate" | "none" | "baseline";

export const BREAKER = { BREAKER_FAILURE_THRESHOLD: "5", BREAKER_OPEN_MS: "2000", BREAKER_HALF_OPEN_PROBES: "1" };
const MODE_VARS: Record<Mode, Record<string, string>> = {
  shared: { ...BREAKER, BREAKER_SCOPE: "shared" },
  isolate: { ...BREAKER, BREAKER_SCOPE: "isolate" },
  none: { ...BREAKER, BREAKER_SCOPE: "isolate", BREAKER_FAILURE_THRESHOLD: "1000" },
  baseline: { ...BREAKER, BREAKER_SCOPE: "shared" },
};

/** The Workers `<mode>-<i>` of every mode, built from dist/index.js, `bindings` under each mode's variables. */
export function fleet(
  modes: Mode[],
  isolates: number,
  settings: WranglerSettingsT,
  bindings: Record<string, string>,
): V4WorkerOptions[] {
  return modes.flatMap((mode) =>
    Array.from({ length: isolates }, (_, i): V4WorkerOptions => {
      const host = `${mode}-0`;
      return {
        name: `${mode}-${i}`,
        modules: true,
        scriptPath: BUILT_WORKER,
        modulesRoot: dirname(BUILT_WORKER),
        compatibilityDate: settings.compatibilityDate,
        compatibilityFlags: settings.compatibilityFlags,
        bindings: { ...bindings, ...MODE_VARS[mode] },
        // The mode's first Worker hosts the objects; its other isolates bind the same namespaces.
        durableObjects: {
          COALESCER:
            i === 0
              ? { className: "Coalescer", useSQLite: true }
              : { className: "Coalescer", scriptName: host, useSQLite: true },
          BREAKER:
            i === 0
              ? { className: "Breaker", useSQLite: true }
              : { className: "Breaker", scriptName: host, useSQLite: true },
        },
      };
    }),
  );
}
