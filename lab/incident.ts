/**
 * An incident of the lab: the same fixed load against a bad variant and a good one (or more), each
 * on a fresh Worker, collector and Prometheus; what each variant records; and the checks that say
 * the difference showed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Recorder, loadSeries, loadSummary } from "./load.ts";
import { alertNames } from "./prometheus.ts";
import type { LabAlert, LabCheck, LabIncident, LabPoint, LabTrace, LabVariant } from "./run-format.ts";
import {
  startLabWorker,
  startObservers,
  startVariantStack,
  type DbTarget,
  type LabStack,
  type LabWorker,
  type Observers,
  type VariantStack,
} from "./stack.ts";

export interface VariantContext {
  stack: LabStack;
  target: DbTarget;
  worker: VariantStack;
  /** The Workers started beside it (VariantSpec.alongside), by name. */
  alongside: Record<string, LabWorker>;
  recorder: Recorder;
  /** How long the load runs. */
  seconds: number;
  /** The admin's headers every lab request carries. */
  headers: Record<string, string>;
}

export interface VariantSpec {
  name: string;
  kind: "bad" | "good";
  /** Worker bindings over the lab's (settings the variant changes). */
  bindings?: Record<string, string>;
  /**
   * More Workers, each on a workerd of its own beside the variant's and pushing to the same
   * collector, by name, with their bindings over the variant's (schema-change: the next version).
   * They start before the load and stop with the variant.
   */
  alongside?: Record<string, Record<string, string>>;
  /** The incident's fixed load. */
  load(ctx: VariantContext): Promise<void>;
  /** Extra points sampled each second (metric names of LabPoint). */
  sample?(ctx: VariantContext): Promise<Record<string, number>>;
  /** Extra summary fields, read once the load and its tail are over. */
  summarize?(ctx: VariantContext): Promise<Record<string, number | string>>;
  /** Runs after the variant's summary, before its Worker stops (slow-request reads its trace here). */
  trace?(ctx: VariantContext): Promise<LabTrace | undefined>;
}

export interface IncidentSetup {
  /** The database this incident's Worker uses instead of the lab's own. */
  target?: DbTarget;
  close(): Promise<void>;
}

export interface Incident {
  id: string;
  title: string;
  what: string;
  /** The alert(s) its bad variant must fire and its good ones must not. */
  alerts: string[];
  setup?(stack: LabStack): Promise<IncidentSetup>;
  /** Called before each variant (e.g. to reset a stand-in's switches). */
  before?(stack: LabStack, variant: VariantSpec): Promise<void> | void;
  variants: VariantSpec[];
  /** The incident's own differences, beyond the alerts (`trace`: the slowest request's, when read). */
  checks(variants: LabVariant[], trace?: LabTrace): LabCheck[];
}

/** How long a variant keeps being observed after its load: rules need a few evaluations. */
export const TAIL_SECONDS = 4;

function tracker(names: readonly string[]) {
  const alerts = new Map<string, LabAlert>(names.map((name) => [name, { name, firedAt: null, pendingAt: null }]));
  return {
    see(t: number, seen: ReadonlyArray<{ name: string; state: "pending" | "firing" }>): void {
      for (const { name, state } of seen) {
        const a = alerts.get(name) ?? { name, firedAt: null, pendingAt: null };
        alerts.set(name, a);
        a.pendingAt ??= t;
        if (state === "firing") a.firedAt ??= t;
      }
    },
    list: (): LabAlert[] => [...alerts.values()],
  };
}

/** Runs one variant: its Worker and observers, the load, a sample a second, its row. */
export async function runVariant(
  stack: LabStack,
  target: DbTarget,
  spec: VariantSpec,
  seconds: number,
  rules: string,
  observers: Observers,
): Promise<{ variant: LabVariant; trace?: LabTrace }> {
  const worker = await startVariantStack(stack, target, spec.bindings ?? {}, observers);
  const alongside: Record<string, LabWorker> = {};
  try {
    for (const [name, bindings] of Object.entries(spec.alongside ?? {}))
      alongside[name] = await startLabWorker(stack, target, { ...spec.bindings, ...bindings }, worker.collector);
    const recorder = new Recorder(performance.now());
    const ctx: VariantContext = { stack, target, worker, alongside, recorder, seconds, headers: stack.auth };
    const series: LabPoint[] = [];
    const alerts = tracker(alertNames(rules));
    let sampling = true;
    const sampler = (async () => {
      for (let tick = 0; sampling && tick < 600; tick++) {
        const t = Math.round(recorder.now() * 10) / 10;
        // Each isolate pushes its metrics from a request's waitUntil: a cheap request keeps pushes coming when idle.
        await Promise.all(
          [worker, ...Object.values(alongside)].map((w) =>
            fetch(`${w.base}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
              (r) => r.arrayBuffer(),
              () => undefined,
            ),
          ),
        );
        const [inFlight, backends, seen, extra] = await Promise.all([
          worker.prometheus.value("sum(http_requests_in_flight)"),
          target.exporter.backends(),
          worker.prometheus.alerts(),
          spec.sample?.(ctx) ?? Promise.resolve<Record<string, number>>({}),
        ]);
        alerts.see(t, seen);
        series.push(
          { t, metric: "in_flight", value: Number.isNaN(inFlight) ? 0 : inFlight },
          { t, metric: "pg_backends", value: backends },
          ...Object.entries(extra).map(([metric, value]) => ({ t, metric, value })),
        );
        await sleep(Math.max(0, 1_000 - (recorder.now() - t) * 1_000));
      }
    })();
    let failure: Error | undefined;
    try {
      await spec.load(ctx);
      await sleep(TAIL_SECONDS * 1_000);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
    sampling = false;
    await sampler;
    recorder.close();
    if (failure) throw failure;
    const summary = { ...loadSummary(recorder.outcomes, seconds), ...(await spec.summarize?.(ctx)) };
    const trace = await spec.trace?.(ctx);
    const variant: LabVariant = {
      name: spec.name,
      kind: spec.kind,
      series: [...loadSeries(recorder.outcomes, seconds), ...series].sort((a, b) => a.t - b.t),
      alerts: alerts.list(),
      summary: {
        ...summary,
        "alerts fired":
          alerts
            .list()
            .filter((a) => a.firedAt !== null)
            .map((a) => a.name)
            .join(", ") || "none",
      },
    };
    return trace ? { variant, trace } : { variant };
  } finally {
    for (const other of Object.values(alongside)) await other.close().catch(() => undefined);
    await worker.close();
  }
}

/** The checks every incident gets: its alerts fired in the bad variant, none fired in a good one. */
export function alertChecks(incident: Incident, variants: readonly LabVariant[]): LabCheck[] {
  const fired = (v: LabVariant) => v.alerts.filter((a) => a.firedAt !== null).map((a) => a.name);
  const checks: LabCheck[] = [];
  for (const v of variants) {
    const names = fired(v);
    if (v.kind === "bad") {
      for (const alert of incident.alerts)
        checks.push({
          name: `${alert} fires in "${v.name}"`,
          passed: names.includes(alert),
          detail: names.includes(alert)
            ? `firing at ${v.alerts.find((a) => a.name === alert)?.firedAt ?? "?"} s`
            : `fired: ${names.join(", ") || "none"}`,
        });
    } else {
      checks.push({
        name: `no alert fires in "${v.name}"`,
        passed: names.length === 0,
        detail: `fired: ${names.join(", ") || "none"}`,
      });
    }
  }
  return checks;
}

/** Runs every variant of `incident` in order. */
export async function runIncident(
  stack: LabStack,
  incident: Incident,
  seconds: number,
  rules: string,
  log: (line: string) => void,
): Promise<LabIncident> {
  const setup = await incident.setup?.(stack);
  try {
    const variants: LabVariant[] = [];
    let trace: LabTrace | undefined;
    const target = setup?.target ?? stack.target;
    // The next variant's observers start while this one runs (Prometheus takes seconds to scrape a new target).
    let next: Promise<Observers> | undefined = startObservers(target);
    for (const [i, spec] of incident.variants.entries()) {
      log(`${incident.id}: ${spec.name}`);
      const observers = await next!;
      next = i + 1 < incident.variants.length ? startObservers(target) : undefined;
      // A failed start of the next observers is reported when they are awaited, not as an unhandled rejection.
      next?.catch(() => undefined);
      await incident.before?.(stack, spec);
      let result;
      try {
        result = await runVariant(stack, target, spec, seconds, rules, observers);
      } catch (err) {
        await next?.then((o) => o.close()).catch(() => undefined);
        throw err;
      }
      variants.push(result.variant);
      trace ??= result.trace;
    }
    const checks = [...incident.checks(variants, trace), ...alertChecks(incident, variants)];
    return {
      id: incident.id,
      title: incident.title,
      what: incident.what,
      variants,
      checks,
      ...(trace ? { trace } : {}),
    };
  } finally {
    await setup?.close();
  }
}

/** A numeric summary field of a variant (NaN when absent or not a number). */
export function figure(variant: LabVariant | undefined, field: string): number {
  const value = variant?.summary[field];
  return typeof value === "number" ? value : Number.NaN;
}

/** The largest value one metric reached in a variant's series (0 when never sampled). */
export function peak(variant: LabVariant | undefined, metric: string): number {
  return Math.max(0, ...(variant?.series.filter((p) => p.metric === metric).map((p) => p.value) ?? []));
}

/** The metric's last sampled value in a variant's series (NaN when never sampled). */
export function last(variant: LabVariant | undefined, metric: string): number {
  return variant?.series.filter((p) => p.metric === metric).at(-1)?.value ?? Number.NaN;
}

/** The sum of one metric's points in a variant's series. */
export function total(variant: LabVariant | undefined, metric: string): number {
  return (variant?.series ?? []).filter((p) => p.metric === metric).reduce((sum, p) => sum + p.value, 0);
}
