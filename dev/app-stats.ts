/**
 * Counters per application_name (`clinic-edge:<request id>`), as the bridge and the /sql endpoint
 * keep them for the tests. Bounded: past `max` names the oldest is forgotten, so a long dev
 * session does not grow without end.
 */
export class StatsByApp<T extends object> {
  readonly #apps = new Map<string, T>();
  readonly #empty: T;
  readonly #max: number;

  constructor(empty: T, max = 10_000) {
    this.#empty = empty;
    this.#max = max;
  }

  /** The name's counters, created on first use. */
  for(name: string): T {
    let stats = this.#apps.get(name);
    if (!stats) {
      stats = { ...this.#empty };
      this.#apps.set(name, stats);
      if (this.#apps.size > this.#max) this.#apps.delete(this.#apps.keys().next().value!);
    }
    return stats;
  }

  get(name: string): T | undefined {
    return this.#apps.get(name);
  }

  /** The name's counters, or zeros when it was never seen. */
  snapshot(name: string): T {
    return this.#apps.get(name) ?? this.#empty;
  }
}
