/** A bench:breaker run of one mode: the booking load, the insurer's outage in its middle, the figures. */
import { setTimeout as sleep } from "node:timers/promises";
import type { Miniflare } from "miniflare";
import type { InsuranceStandIn } from "../../dev/insurance.ts";
import { percentile } from "../lib/stack.ts";
import type { Mode } from "./fleet.ts";

export interface Options {
  isolates: number;
  concurrency: number;
  seconds: number;
  outage: number;
}

/** Who the bookings are for (people() in bench/breaker.ts). */
export interface Cast {
  doctors: string[];
  insured: string[];
  uninsured: string[];
}

interface Sample {
  startedAt: number;
  ms: number;
  status: number;
  eligibility: string | null;
  /** The eligibility check's own time inside the Worker (Server-Timing `insurance;dur=`). */
  checkMs: number | undefined;
}

export interface Result {
  mode: Mode;
  bookings: number;
  errors: number;
  /** Calls that reached the insurer while it was down, and over the whole run. */
  callsDuringOutage: number;
  callsTotal: number;
  unknownDuringOutage: number;
  outageP50: number;
  outageP99: number;
  healthyP50: number;
  healthyP99: number;
  /** The eligibility check's own time (breaker included) for bookings started while the insurer was down. */
  checkP50: number;
  checkP99: number;
}

/**
 * One mode's run: `concurrency` booking loops over its isolates for `seconds`, the insurer down for
 * `outage` seconds in the middle; what the bookings and the insurer saw.
 */
export async function runMode(
  mf: Miniflare,
  mode: Mode,
  opts: Options,
  insurance: InsuranceStandIn,
  cast: Cast,
  dayOffset: number,
  auth: Record<string, string>,
): Promise<Result> {
  const workers = Array.from({ length: opts.isolates }, (_, i) => `${mode}-${i}`);
  const patients = mode === "baseline" ? cast.uninsured : cast.insured;
  const samples: Sample[] = [];
  const started = performance.now();
  const outageFrom = ((opts.seconds - opts.outage) / 2) * 1_000;
  const outageTo = outageFrom + opts.outage * 1_000;
  const endAt = opts.seconds * 1_000;
  const firstSlot = Date.UTC(new Date().getUTCFullYear() + 1, 0, 1) + dayOffset * 86_400_000;
  let next = 0;

  const loop = async (k: number): Promise<void> => {
    for (let n = 0; performance.now() - started < endAt; n++) {
      const startsAt = firstSlot + n * 30 * 60_000;
      const body = JSON.stringify({
        doctorId: cast.doctors[k],
        patientId: patients[(k * 7 + n) % patients.length],
        startsAt: new Date(startsAt).toISOString(),
        endsAt: new Date(startsAt + 30 * 60_000).toISOString(),
      });
      const t0 = performance.now();
      let status = 0;
      let eligibility: string | null = null;
      let checkMs: number | undefined;
      try {
        const res = await mf.dispatchFetch("http://bench/appointments", {
          method: "POST",
          headers: {
            ...auth,
            "content-type": "application/json",
            "MF-Route-Override": workers[next++ % workers.length]!,
          },
          body,
        });
        status = res.status;
        const timing = /insurance;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "");
        checkMs = timing ? Number(timing[1]) : undefined;
        const answer = (await res.json()) as { eligibility?: string | null };
        eligibility = answer.eligibility ?? null;
      } catch {
        // status stays 0: no answer at all
      }
      samples.push({ startedAt: t0 - started, ms: performance.now() - t0, status, eligibility, checkMs });
    }
  };

  const controller = (async () => {
    await sleep(outageFrom);
    const before = insurance.stats().requests;
    insurance.controls({ down: true });
    await sleep(opts.outage * 1_000);
    insurance.controls({ down: false });
    return insurance.stats().requests - before;
  })();
  const totalBefore = insurance.stats().requests;
  await Promise.all(Array.from({ length: opts.concurrency }, (_, k) => loop(k)));
  const callsDuringOutage = await controller;

  const during = samples.filter((s) => s.startedAt >= outageFrom && s.startedAt < outageTo);
  const healthy = samples.filter((s) => s.startedAt < outageFrom);
  const sorted = (xs: Sample[]) => xs.map((s) => s.ms).sort((a, b) => a - b);
  // No check at all (the baseline's uninsured patients) costs 0 ms.
  const checks = during.map((s) => s.checkMs ?? 0).sort((a, b) => a - b);
  return {
    mode,
    bookings: samples.filter((s) => s.status === 201).length,
    errors: samples.filter((s) => s.status !== 201).length,
    callsDuringOutage: mode === "baseline" ? 0 : callsDuringOutage,
    callsTotal: insurance.stats().requests - totalBefore,
    unknownDuringOutage: during.filter((s) => s.eligibility === "unknown").length,
    outageP50: percentile(sorted(during), 50),
    outageP99: percentile(sorted(during), 99),
    healthyP50: percentile(sorted(healthy), 50),
    healthyP99: percentile(sorted(healthy), 99),
    checkP50: percentile(checks, 50),
    checkP99: percentile(checks, 99),
  };
}
