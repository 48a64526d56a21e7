/**
 * `npm run build && npm run bench:compare -- --baseline <bundle> [--route /healthz] [-c 20 -d 5 -w 1 -r 6]`:
 * two builds of the Worker side by side, for a change that should not cost a request anything (or
 * should save something): the baseline bundle (another commit's `npm run build` output) and this
 * checkout's dist/index.js, on one workerd stack, one database and one closed-loop load, alternating
 * `--rounds` times so the machine's drift falls on both. Prints req/s, the ratio, latency and the
 * CPU workerd spent per request.
 *
 * A baseline from another commit:  git worktree add /tmp/base <rev> && (cd /tmp/base &&
 * ln -s "$PWD/node_modules" . && npm run build)  — then --baseline /tmp/base/dist/index.js.
 *
 * Routes (comma-separated `--route`): a path, or `patient` for GET /patients/:id over the seeded
 * patients (one statement on the HTTP path). The abuse limits are off (bench/lib/stack.ts).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { abOptions, abTable, runAb, type AbPlan } from "./lib/ab.ts";
import { withWorkerStack } from "./lib/worker.ts";

const opts = abOptions({ baseline: "", candidate: "dist/index.js", route: "/healthz,patient" });
const baseline = resolve(opts.extra.baseline);
const candidate = resolve(opts.extra.candidate);
for (const [flag, path] of [
  ["baseline", baseline],
  ["candidate", candidate],
] as const) {
  if (!opts.extra[flag] || !existsSync(path)) {
    console.error(`[bench] --${flag} must name a built Worker bundle (got "${opts.extra[flag]}")`);
    process.exit(2);
  }
}

await withWorkerStack("compare", async (stack) => {
  const plan: AbPlan = {
    feature: "build",
    column: "build",
    variants: [
      { name: "baseline", cell: `baseline (${opts.extra.baseline})`, bindings: {}, scriptPath: baseline },
      { name: "candidate", cell: `candidate (${opts.extra.candidate})`, bindings: {}, scriptPath: candidate },
    ],
    routes: opts.extra.route
      .split(",")
      .map((route) =>
        route === "patient"
          ? { label: "GET /patients/:id", urls: stack.patients.map((id) => `${stack.base}/patients/${id}`) }
          : { label: `GET ${route}`, urls: [`${stack.base}${route}`] },
      ),
  };
  console.error(
    `[bench] c=${opts.concurrency}, ${opts.durationS} s per phase after ${opts.warmupS} s warm-up, ${opts.rounds} rounds`,
  );
  console.log(abTable(plan, await runAb(stack, opts, plan)));
});
