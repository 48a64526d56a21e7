/**
 * What a bench's workerd prints, sorted: warnings and errors go to stderr; V8's `--trace-gc` lines
 * (gcTracing() in ./gc.ts) go to a callback; the rest, one request log line per request, is
 * dropped: under load it buried the figures under tens of thousands of lines and cost the bench
 * process CPU on the cores it shares with workerd.
 */
import { type GcPause, gcTracing, parseGcLine } from "./gc.ts";

/** A line of workerd's output as Miniflare hands it over (`handleStructuredLogs`). */
interface RuntimeLog {
  level: string;
  message: string;
}

function runtimeLogHandler(onGc?: (pause: GcPause) => void): (log: RuntimeLog) => void {
  return ({ level, message }) => {
    const pause = parseGcLine(message);
    if (pause) onGc?.(pause);
    else if (level === "warn" || level === "error") process.stderr.write(`[workerd ${level}] ${message}\n`);
  };
}

/**
 * The Miniflare options that route a bench's workerd output through runtimeLogHandler(), with
 * V8's collections reported to `onGc` when it is given (gcTracing()).
 */
export function runtimeOutput(onGc?: (pause: GcPause) => void) {
  return { handleStructuredLogs: runtimeLogHandler(onGc), ...(onGc ? gcTracing() : {}) };
}
