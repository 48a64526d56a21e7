/**
 * What a bench's workerd prints, sorted: V8's `--trace-gc` lines (gcTracing() in ./gc.ts) go to a
 * callback; every other line may be counted (LogTally), and only warnings and errors go to stderr
 * unless the bench asks otherwise: under load, one request log line per request buried the
 * figures under tens of thousands of lines and cost the bench process CPU on the cores it shares
 * with workerd.
 */
import { type GcPause, gcTracing, parseGcLine } from "./gc.ts";

/** A line of workerd's output as Miniflare hands it over (`handleStructuredLogs`). */
export interface RuntimeLog {
  level: string;
  message: string;
}

export interface RuntimeOutputOptions {
  /** Every collection of this workerd, as V8 reports it; turns `--trace-gc` on (gcTracing()). */
  onGc?: (pause: GcPause) => void;
  /** Every other line, whether it is echoed or not (LogTally.count). */
  onLine?: (log: RuntimeLog) => void;
  /** Which of those go to stderr: warnings and errors (the default), all of them, or none. */
  echo?: "warn" | "all" | "none";
}

function runtimeLogHandler({ onGc, onLine, echo = "warn" }: RuntimeOutputOptions): (log: RuntimeLog) => void {
  return (log) => {
    const pause = parseGcLine(log.message);
    if (pause) {
      onGc?.(pause);
      return;
    }
    onLine?.(log);
    const shown = echo === "all" || (echo === "warn" && (log.level === "warn" || log.level === "error"));
    if (shown) process.stderr.write(`[workerd ${log.level}] ${log.message}\n`);
  };
}

/** The Miniflare options that route a bench's workerd output through runtimeLogHandler(). */
export function runtimeOutput(options: RuntimeOutputOptions = {}) {
  return { handleStructuredLogs: runtimeLogHandler(options), ...(options.onGc ? gcTracing() : {}) };
}

/** Distinct error summaries kept: a Worker failing in a new way each time must not grow this without end. */
const MAX_ERROR_KINDS = 20;

/**
 * A workerd's lines counted by level, and its errors (and uncaught exceptions) by their summary,
 * for a bench that reports what the Worker logged while it was measured.
 */
export class LogTally {
  readonly byLevel: Record<string, number> = {};
  /** Error entries by their first line (and the `cause:` line an Error's dump carries), counted. */
  readonly errors: Record<string, number> = {};

  /** An arrow, so that it can be handed to runtimeOutput({ onLine }) as it is. */
  readonly count = ({ level, message }: RuntimeLog): void => {
    this.byLevel[level] = (this.byLevel[level] ?? 0) + 1;
    if (level !== "error" && !/uncaught/i.test(message)) return;
    const first = message.split("\n", 1)[0]!.slice(0, 160);
    const cause = /^\s*cause: (.*)$/m.exec(message)?.[1]?.trim();
    const key = cause ? `${first} … cause: ${cause.slice(0, 160)}` : first;
    if (key in this.errors || Object.keys(this.errors).length < MAX_ERROR_KINDS)
      this.errors[key] = (this.errors[key] ?? 0) + 1;
  };
}
