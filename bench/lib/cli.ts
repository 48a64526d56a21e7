/**
 * A bench's command line from one table of flags (the usage text and the parsing cannot drift
 * apart), and how a long run is stopped: Ctrl-C, SIGTERM or a time limit, with its teardown given
 * a bounded time.
 */
import { parseArgs } from "node:util";

/** `v` as a whole number from `min` to `max`, or an error naming `--name`. */
export function wholeNumber(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

interface FlagBase {
  short?: string;
  help: string;
}
/** A whole number from `min` to `max`. */
export interface WholeFlag extends FlagBase {
  arg: string;
  default: number;
  min: number;
  max: number;
}
export interface TextFlag extends FlagBase {
  arg: string;
  default: string;
}
/** On when given. */
export interface SwitchFlag extends FlagBase {
  switch: true;
}
export type Flag = WholeFlag | TextFlag | SwitchFlag;

export type FlagValues<S extends Record<string, Flag>> = {
  [K in keyof S]: S[K] extends SwitchFlag ? boolean : S[K] extends WholeFlag ? number : string;
};

const isSwitch = (f: Flag): f is SwitchFlag => "switch" in f;
const isWhole = (f: Flag): f is WholeFlag => "min" in f;

/** `Usage: <command>`, a line per flag (and -h), then `footer`. */
export function usage(command: string, spec: Record<string, Flag>, footer = ""): string {
  const left = (name: string, f: Flag): string =>
    `${f.short ? `-${f.short}, ` : ""}--${name}${isSwitch(f) ? "" : ` <${f.arg}>`}`;
  const width = Math.max(...Object.entries(spec).map(([name, f]) => left(name, f).length)) + 2;
  const lines = Object.entries(spec).map(([name, f]) => {
    const range = isWhole(f) ? `; ${f.min}..${f.max}` : "";
    const dflt = isSwitch(f) ? "" : ` (default ${f.default}${range})`;
    return `  ${left(name, f).padEnd(width)}${f.help}${dflt}`;
  });
  return [
    `Usage: ${command} [options]`,
    "",
    ...lines,
    `  ${"-h, --help".padEnd(width)}this text`,
    ...(footer ? ["", footer] : []),
  ].join("\n");
}

/** The flags in `argv`, checked against `spec`; undefined when -h / --help asked for the usage. Throws on a bad one. */
export function parseFlags<S extends Record<string, Flag>>(spec: S, argv: string[]): FlagValues<S> | undefined {
  const options = Object.fromEntries(
    Object.entries(spec).map(([name, f]) => [
      name,
      { type: isSwitch(f) ? "boolean" : "string", ...(f.short ? { short: f.short } : {}) } as const,
    ]),
  );
  // Indexed by name below: the flags are not known to parseArgs' types.
  const { values }: { values: Record<string, string | boolean | undefined> } = parseArgs({
    args: argv,
    strict: true,
    options: { ...options, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return undefined;
  const parsed = Object.fromEntries(
    Object.entries(spec).map(([name, f]): [string, string | number | boolean] => {
      const given = values[name];
      if (isSwitch(f)) return [name, given === true];
      if (typeof given !== "string") return [name, f.default];
      return [name, isWhole(f) ? wholeNumber(given, name, f.min, f.max) : given];
    }),
  );
  // Built from `spec` key by key, with each value of the type FlagValues gives its flag.
  return parsed as FlagValues<S>;
}

/**
 * A bench's options from its command line (`parse`, e.g. over parseFlags()), or the exit code when
 * the run ends here: 0 after -h printed `usageText`, 2 after a bad flag printed why (`tag`: the
 * bench's log prefix, "[bench]") and the usage.
 */
export function parseCommandLine<T extends object>(
  parse: (argv: string[]) => T | undefined,
  usageText: string,
  tag: string,
): T | number {
  let opts: T | undefined;
  try {
    opts = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`${tag} ${err instanceof Error ? err.message : String(err)}\n\n${usageText}`);
    return 2;
  }
  if (opts) return opts;
  console.log(usageText);
  return 0;
}

/**
 * An AbortSignal that aborts on SIGINT, SIGTERM or after `maxSeconds`; once aborted, the process
 * exits (3) if its teardown has not ended it within `graceS`. `dispose()` when the run is over.
 */
export function stopSignal(maxSeconds: number, graceS = 60): { signal: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const watchdog = setTimeout(() => stop.abort(new Error(`--max-seconds ${maxSeconds} reached`)), maxSeconds * 1_000);
  stop.signal.addEventListener("abort", () => setTimeout(() => process.exit(3), graceS * 1_000).unref(), {
    once: true,
  });
  return {
    signal: stop.signal,
    dispose: () => {
      clearTimeout(watchdog);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
