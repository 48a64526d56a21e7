/**
 * A measurement of failed requests is not the measurement asked for: every bench and profiling
 * tool counts its answers by status and stops (exit 1) with the breakdown when more than 1 % of
 * them failed, instead of printing figures as if they were valid.
 */

/** Share of failed requests above which a tool refuses to report. */
export const MAX_FAILED_SHARE = 0.01;

/** Answers counted by HTTP status ("network-error" when none came). */
export class StatusTally {
  readonly counts: Record<string, number> = {};

  add(status: number | string, n = 1): void {
    const key = String(status) === "0" ? "network-error" : String(status);
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }

  addAll(other: StatusTally): void {
    for (const [status, n] of Object.entries(other.counts)) this.add(status, n);
  }

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  /** Answers that are not 2xx, network errors included. */
  get failed(): number {
    return Object.entries(this.counts)
      .filter(([status]) => !/^2\d\d$/.test(status))
      .reduce((sum, [, n]) => sum + n, 0);
  }

  /** "429 × 1902, 200 × 98", most frequent first. */
  breakdown(): string {
    return Object.entries(this.counts)
      .sort(([, a], [, b]) => b - a)
      .map(([status, n]) => `${status} × ${n}`)
      .join(", ");
  }
}

/** What to do about the failures seen most: the statuses a local run meets when misconfigured. */
function advice(tally: StatusTally): string[] {
  const lines: string[] = [];
  if (tally.counts["429"])
    lines.push(
      "429: a rate limit stopped them; `npm run dev` sets a local one the tools stay under, unless RATE_LIMIT_REQUESTS was overridden",
    );
  if (tally.counts["401"] || tally.counts["403"])
    lines.push('401/403: the route needs a token: --token "$(npm run --silent token -- --role admin)"');
  if (tally.counts["503"]) lines.push("503: the Worker shed load or a dependency is down (see its log)");
  if (tally.counts["network-error"]) lines.push("network-error: nothing answered: is `npm run dev` running?");
  return lines;
}

/**
 * Stops the process with exit code 1 and the breakdown by status when more than 1 % of `tally`'s
 * requests failed; returns quietly otherwise. `what` names the measurement in the message.
 */
export function refuseOnFailures(what: string, tally: StatusTally): void {
  if (tally.total > 0 && tally.failed / tally.total <= MAX_FAILED_SHARE) return;
  const share = tally.total === 0 ? "no answers" : `${((100 * tally.failed) / tally.total).toFixed(1)} % failed`;
  console.error(
    `[refused] ${what}: ${tally.failed} of ${tally.total} requests failed (${share}): ${tally.breakdown()}`,
  );
  for (const line of advice(tally)) console.error(`[refused]   ${line}`);
  console.error("[refused] no figures reported: they would describe the failures, not the work.");
  process.exit(1);
}
