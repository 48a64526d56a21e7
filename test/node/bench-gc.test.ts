/**
 * How `bench:db-paths -- --gc` reads V8's collections (bench/lib/gc.ts): the lines are real ones,
 * copied from workerd's and Node's `--trace-gc` output on this project's machine.
 */
import { describe, expect, it } from "vitest";
import { netOfGc, parseGcLine } from "../../bench/lib/gc.ts";

describe("parseGcLine", () => {
  it("reads a scavenge's kind and pause from workerd's --trace-gc line", () => {
    const line =
      "[7693:0x3044bfcec000]      108 ms: Scavenge 3.6 (4.6) -> 3.3 (5.3) MB, pooled: 0.0 MB, 1.35 / 0.00 ms (average mu = 1.000, current mu = 1.000) allocation failure; ";
    expect(parseGcLine(line)).toEqual({ kind: "Scavenge", pauseMs: 1.35 });
  });

  it("reads a full collection's pause, not the heap sizes or the pooled memory", () => {
    const line =
      "[5654:0x60843fe00000]     8282 ms: Mark-Compact 33.9 (45.2) -> 0.2 (15.2) MB, pooled: 30.0 MB, 193.06 / 0.00 ms (average mu = 0.977, current mu = 0.977) global allocation limit; GC in old space requested";
    expect(parseGcLine(line)).toEqual({ kind: "Mark-Compact", pauseMs: 193.06 });
  });

  it("reads Node's form of the line, with the incremental marking steps after the pause", () => {
    const line =
      "[26624:0x4423a000]      900 ms: Mark-Compact 19.5 (22.4) -> 17.4 (22.9) MB, pooled: 0 MB, 6.69 / 0.00 ms  (+ 0.2 ms in 15 steps since start of marking, biggest step 0.0 ms, walltime since start of marking 333 ms) (average mu = 0.993, current mu = 0.993) finalize incremental marking via stack guard; GC in old space requested";
    expect(parseGcLine(line)).toEqual({ kind: "Mark-Compact", pauseMs: 6.69 });
  });

  it("ignores the Worker's own log lines, even ones that mention a collection", () => {
    expect(parseGcLine('{"level":"info","msg":"request","route":"/healthz","durationMs":1}')).toBeUndefined();
    expect(parseGcLine("Scavenge 3.6 (4.6) -> 3.3 (5.3) MB, 1.35 / 0.00 ms")).toBeUndefined();
  });
});

describe("netOfGc", () => {
  it("takes out only the part of a pause that fell while the request was in flight", () => {
    // Request in flight from t=100 to t=160; a 40 ms pause from 140 to 180 overlaps it by 20 ms.
    expect(netOfGc([60], [100], [{ endAt: 180, ms: 40 }])).toEqual([40]);
  });

  it("sums every pause inside the request, whatever order they are given in", () => {
    const pauses = [
      { endAt: 150, ms: 10 },
      { endAt: 120, ms: 5 },
    ];
    expect(netOfGc([100], [100], pauses)).toEqual([85]);
  });

  it("leaves a request untouched by pauses before it was sent or after it was answered", () => {
    const pauses = [
      { endAt: 99, ms: 50 },
      { endAt: 300, ms: 50 },
    ];
    expect(netOfGc([100], [100], pauses)).toEqual([100]);
  });
});
