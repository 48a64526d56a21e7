/**
 * Memory growth: each request remembers its answer (32 KiB) in a per-isolate map. Unbounded, the
 * isolate's retained bytes grow with every request until the runtime evicts the isolate; bounded
 * (64 entries, oldest first out) they level off at 2 MiB. The lab Worker reports the maps' sizes as
 * the isolate_retained_bytes gauge; `npm run profile:heap-growth` shows the same growth in the heap.
 */
import { last, peak, type Incident, type VariantSpec } from "../incident.ts";

const PER_SECOND = 100;
const BOUNDED_BYTES = 64 * 32 * 1024;

function variant(name: string, kind: "bad" | "good", bounded: boolean): VariantSpec {
  const structure = bounded ? "bounded" : "unbounded";
  return {
    name,
    kind,
    load: (ctx) =>
      ctx.recorder.openLoop(
        () => ({ url: `${ctx.worker.base}/__lab/remember?bounded=${bounded ? 1 : 0}`, headers: ctx.headers }),
        PER_SECOND,
        ctx.seconds,
      ),
    sample: async (ctx) => {
      const bytes = await ctx.worker.prometheus.value(`max(isolate_retained_bytes{structure="${structure}"})`);
      return { heap_bytes: Number.isNaN(bytes) ? 0 : bytes };
    },
    summarize: async (ctx) => {
      const bytes = await ctx.worker.prometheus.value(`max(isolate_retained_bytes{structure="${structure}"})`);
      return { "retained MiB": Math.round((bytes / 1_048_576) * 10) / 10 };
    },
  };
}

export const memoryGrowth: Incident = {
  id: "memory-growth",
  title: "Memory growth",
  what: "A per-isolate map keeps every answer and grows with each request until the isolate is evicted; a bounded one levels off.",
  alerts: ["IsolateMemoryGrowing"],
  variants: [variant("bad: an unbounded per-isolate map", "bad", false), variant("good: a bounded map", "good", true)],
  checks: ([bad, good]) => [
    {
      name: "retained bytes: level in the good run, growing to many times that in the bad one",
      passed: peak(good, "heap_bytes") <= BOUNDED_BYTES && last(bad, "heap_bytes") > 4 * BOUNDED_BYTES,
      detail: `bad ${last(bad, "heap_bytes")} B at the end, good at most ${peak(good, "heap_bytes")} B`,
    },
  ],
};
