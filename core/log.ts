/**
 * The one logger: a JSON line per event, `{"level","msg",...fields}`, written with the console
 * method of its level (console.log / warn / error), which is how Workers Logs and `wrangler tail`
 * tell levels apart. Pass `requestId` whenever there is a request, so a line can be joined to its
 * request log line and trace.
 *
 * Never pass personal data or secrets (names, emails, phones, birth dates, member ids, tokens, SQL
 * parameters): log ids, route templates, parameterised SQL and error names instead. Fields under the
 * names below are replaced with "[redacted]" as a last line of defence.
 */

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Readonly<Record<string, unknown>>;

const REDACTED: ReadonlySet<string> = new Set([
  "authorization",
  "token",
  "secret",
  "password",
  "email",
  "phone",
  "name",
  "birthDate",
  "insuranceMemberId",
]);

/** Whether a field under this name is written as "[redacted]". */
export function isRedacted(key: string): boolean {
  return REDACTED.has(key);
}

function line(level: Level, msg: string, fields: Fields | undefined): string {
  if (fields === undefined) return JSON.stringify({ level, msg });
  let safe = fields;
  for (const key in fields) {
    if (REDACTED.has(key)) {
      safe = { ...fields };
      for (const k in safe) if (REDACTED.has(k)) (safe as Record<string, unknown>)[k] = "[redacted]";
      break;
    }
  }
  return JSON.stringify({ level, msg, ...safe });
}

// The console is looked up at each call, not captured: tests (and tools) replace its methods.
export const log = {
  debug(msg: string, fields?: Fields): void {
    console.debug(line("debug", msg, fields));
  },
  info(msg: string, fields?: Fields): void {
    console.log(line("info", msg, fields));
  },
  warn(msg: string, fields?: Fields): void {
    console.warn(line("warn", msg, fields));
  },
  error(msg: string, fields?: Fields): void {
    console.error(line("error", msg, fields));
  },
};

/** An error's loggable summary: its name and message, or its string form. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
