/**
 * The checker: what the clients were told (the history) against what the database holds, once the
 * load has stopped and every fault is healed. Writes are attributed to attempts through the
 * X-Request-Id each attempt sent, which the database keeps with every appointment event it writes
 * (appointment_events.client_request_id): so "the client was told it failed, yet it is there" and
 * "acknowledged twice" are exact, not guessed from timing. An attempt with no answer (timeout, reset,
 * hang-up) may or may not have written, and so may one the server answered with `writeOutcome:
 * "unknown"` (its database answer was lost with the COMMIT in flight): those are the only
 * ambiguities allowed. Every other failure must have written nothing.
 */
import type pg from "pg";
import type { Attempt } from "./history.ts";
import { GRACE_MS, type FaultWindow } from "./schedule.ts";

export interface Invariant {
  name: string;
  passed: boolean;
  /** Violations (0 when passed), or for the after-checks the figure measured. */
  count: number;
  detail: string;
  examples: string[];
}

const MAX_EXAMPLES = 5;

function invariant(name: string, detail: string, violations: string[]): Invariant {
  return {
    name,
    passed: violations.length === 0,
    count: violations.length,
    detail,
    examples: violations.slice(0, MAX_EXAMPLES),
  };
}

/** Answered with a refusal, not "the same key is still running" (which says nothing of the outcome). */
const refused = (a: Attempt): boolean =>
  a.status !== undefined && a.status >= 400 && a.status < 500 && !(a.answer ?? "").includes("still being processed");
const requestId = (a: Attempt): string => a.requestHeaders["x-request-id"] ?? "";
// The checker is a client: it reads the HTTP contract itself rather than sharing the server's code.
const isWrite = (a: Attempt): boolean => a.method !== "GET";
/** The answers a fault may explain: the client should retry. */
const unavailable = (a: Attempt): boolean => a.status === 503 || a.status === 504;
const ok = (a: Attempt): boolean => a.status !== undefined && a.status >= 200 && a.status < 300;
const asRecord = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null ? (v as never) : {});
const json = (a: Attempt): Record<string, unknown> => {
  try {
    return asRecord(JSON.parse(a.answer ?? ""));
  } catch {
    return {};
  }
};

/** An attempt whose outcome nobody knows: no answer, or the server's own "writeOutcome: unknown". */
const undetermined = (a: Attempt): boolean => a.status === undefined || json(a).writeOutcome === "unknown";

/** The fault window (with the grace period after it) an attempt overlaps, if any. */
export function overlappingFault(faults: readonly FaultWindow[], a: Attempt): FaultWindow | undefined {
  return faults.find((w) => a.startMs <= w.startMs + w.durationMs + GRACE_MS && a.endMs >= w.startMs);
}

/** The invariants that read only the history. */
export function checkHistory(attempts: readonly Attempt[], faults: readonly FaultWindow[]): Invariant[] {
  const fiveHundreds = attempts.filter((a) => a.status !== undefined && a.status >= 500 && !unavailable(a));
  const unexplained = attempts.filter((a) => unavailable(a) && !overlappingFault(faults, a));
  const outcomeUnsaid = attempts.filter(
    (a) => unavailable(a) && isWrite(a) && !["not-applied", "unknown"].includes(String(json(a).writeOutcome)),
  );
  const byKey = new Map<string, Attempt[]>();
  for (const a of attempts) {
    const key = a.requestHeaders["idempotency-key"];
    if (key && ok(a)) byKey.set(key, [...(byKey.get(key) ?? []), a]);
  }
  const replays: string[] = [];
  for (const [key, answered] of byKey) {
    const [first, ...rest] = answered;
    for (const r of rest)
      if (r.status !== first!.status || r.answer !== first!.answer)
        replays.push(
          `key ${key}: ${requestId(r)} answered ${r.status} ${r.answer?.slice(0, 80)} after ${first!.status}`,
        );
  }
  return [
    invariant("no 500", "no answer was a 5xx other than 503/504, at any time", fiveHundreds.map(describe)),
    invariant(
      "503/504 only in fault windows",
      `every 503/504 overlaps a fault window or the ${GRACE_MS / 1_000} s grace period after it`,
      unexplained.map(describe),
    ),
    invariant(
      "failed writes say their outcome",
      'every 503/504 answer to a write carries writeOutcome: "not-applied" or "unknown"',
      outcomeUnsaid.map(describe),
    ),
    invariant(
      "replays identical",
      "every 2xx answer to a repeated Idempotency-Key equals the first (status and body)",
      replays,
    ),
  ];
}

const describe = (a: Attempt): string =>
  `${requestId(a)} ${a.method} ${a.path} at ${(a.startMs / 1_000).toFixed(1)} s: ${a.status ?? a.error} ${a.answer?.slice(0, 100) ?? ""}`;

interface EventRow {
  appointment_id: string;
  event: string;
  version: number;
  client_request_id: string;
}

/** The invariants that compare the history with the database. */
export async function checkDatabase(db: pg.Client, attempts: readonly Attempt[]): Promise<Invariant[]> {
  const byRequestId = new Map(attempts.map((a) => [requestId(a), a]));
  const byOp = new Map<number, Attempt[]>();
  for (const a of attempts) byOp.set(a.op, [...(byOp.get(a.op) ?? []), a]);
  const events = (
    await db.query<EventRow>(
      "SELECT appointment_id, event::text, version, client_request_id FROM appointment_events WHERE client_request_id LIKE 'soak-%'",
    )
  ).rows;
  const eventsByOp = new Map<number, EventRow[]>();
  const toldFailed: string[] = [];
  for (const e of events) {
    const a = byRequestId.get(e.client_request_id);
    if (!a) {
      toldFailed.push(
        `event ${e.event} v${e.version} of ${e.appointment_id} by ${e.client_request_id}, an attempt not in the history`,
      );
      continue;
    }
    eventsByOp.set(a.op, [...(eventsByOp.get(a.op) ?? []), e]);
    if (!undetermined(a) && !ok(a))
      toldFailed.push(`${describe(a)} yet ${e.event} v${e.version} of ${e.appointment_id} is there`);
  }

  const acknowledged: string[] = [];
  for (const [op, tries] of byOp) {
    const acked = tries.find(ok);
    const kind = tries[0]!.kind;
    // A retry with the key of an attempt that committed must replay it: refused at the end, nothing of it may be there.
    const last = tries.at(-1)!;
    const booking = kind === "book" || kind === "book-soon";
    if (booking && refused(last) && (eventsByOp.get(op) ?? []).length > 0)
      toldFailed.push(
        `op ${op} finally told ${last.status}, yet its booking ${eventsByOp.get(op)![0]!.appointment_id} is there`,
      );
    if (!acked || !["book", "book-soon", "reschedule", "cancel", "complete"].includes(kind)) continue;
    const mine = eventsByOp.get(op) ?? [];
    const body = json(acked);
    if (kind === "book" || kind === "book-soon") {
      const booked = mine.filter((e) => e.event === "booked");
      if (booked.length !== 1 || booked[0]!.appointment_id !== body.id)
        acknowledged.push(
          `op ${op} booked ${String(body.id)}: ${booked.length} booked events (${booked.map((e) => e.appointment_id).join(", ")})`,
        );
    } else if (kind === "cancel" || kind === "complete") {
      // Repeating either changes nothing and answers 200: another op may have made the change.
      if (mine.length > 1) acknowledged.push(`op ${op} ${kind}: ${mine.length} events`);
    } else {
      const hits = mine.filter((e) => e.event === "rescheduled");
      // Rescheduled to the slot it already has: 200 at the same version, nothing written.
      const unchanged = acked.requestHeaders["if-match"] === `"${String(body.version)}"`;
      if (unchanged ? hits.length !== 0 : hits.length !== 1 || hits[0]!.version !== body.version)
        acknowledged.push(
          `op ${op} ${kind} answered v${String(body.version)}: ${hits.map((e) => `v${e.version}`).join(", ") || "no event"}`,
        );
    }
  }
  // A cancellation or completion acknowledged is that event at the answered version, whoever's request made it.
  const settled = attempts
    .filter((a) => (a.kind === "cancel" || a.kind === "complete") && ok(a))
    .map((a) => ({
      id: String(json(a).id),
      event: a.kind === "cancel" ? "cancelled" : "completed",
      version: Number(json(a).version),
    }));
  if (settled.length > 0) {
    const { rows } = await db.query<{ id: string; event: string; version: number }>(
      `SELECT s.id, s.event, s.version FROM jsonb_to_recordset($1::jsonb) AS s(id uuid, event text, version int)
       WHERE NOT EXISTS (SELECT 1 FROM appointment_events e
                          WHERE e.appointment_id = s.id AND e.event::text = s.event AND e.version = s.version)`,
      [JSON.stringify(settled)],
    );
    for (const r of rows) acknowledged.push(`${r.event} of ${r.id} at v${r.version} acknowledged, no such event`);
  }

  // Registrations: every acknowledged patient there once; one finally refused absent.
  const patientOps = [...byOp.values()].filter((t) => t[0]!.kind === "create-patient");
  const emails = (
    await db.query<{ email: string; n: string }>(
      "SELECT lower(email) AS email, count(*) AS n FROM patients WHERE email LIKE 'soak-%' GROUP BY 1",
    )
  ).rows;
  const stored = new Map(emails.map((r) => [r.email, Number(r.n)]));
  for (const tries of patientOps) {
    const email = String(asRecord(tries[0]!.body).email).toLowerCase();
    const n = stored.get(email) ?? 0;
    const last = tries.at(-1)!;
    if (tries.some(ok) && n !== 1) acknowledged.push(`patient ${email} acknowledged, ${n} rows`);
    // Finally refused (a retry replays a committed key, so a refusal means nothing was stored).
    if (refused(last) && n !== 0) toldFailed.push(`patient ${email} finally refused (${last.status}), ${n} rows`);
  }

  const keys = [
    ...new Set(
      attempts
        .filter(ok)
        .map((a) => a.requestHeaders["idempotency-key"])
        .filter((k) => k !== undefined),
    ),
  ];
  const keyRows = (
    await db.query<{ key: string; n: string }>(
      "SELECT key, count(*) AS n FROM idempotency_keys WHERE key = ANY($1::text[]) GROUP BY key",
      [keys],
    )
  ).rows;
  const perKey = new Map(keyRows.map((r) => [r.key, Number(r.n)]));
  const keyViolations = keys.filter((k) => perKey.get(k) !== 1).map((k) => `key ${k}: ${perKey.get(k) ?? 0} rows`);

  const overlaps = (
    await db.query<{ a: string; b: string; doctor_id: string }>(
      `SELECT a.id AS a, b.id AS b, a.doctor_id FROM appointments a JOIN appointments b
         ON a.doctor_id = b.doctor_id AND a.id < b.id
        AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
       WHERE a.status = 'scheduled' AND b.status = 'scheduled'`,
    )
  ).rows.map((r) => `doctor ${r.doctor_id}: ${r.a} and ${r.b}`);

  const histories = (
    await db.query<{ id: string; why: string }>(
      `SELECT a.id, format('version %s, %s events, versions %s..%s (%s distinct), last %s %s',
                a.version, count(e.id), min(e.version), max(e.version), count(DISTINCT e.version),
                (array_agg(e.status ORDER BY e.id DESC))[1], (array_agg(e.starts_at ORDER BY e.id DESC))[1]) AS why
         FROM appointments a LEFT JOIN appointment_events e ON e.appointment_id = a.id
        GROUP BY a.id
       HAVING count(e.id) <> a.version OR count(DISTINCT e.version) <> a.version
           OR min(e.version) <> 1 OR max(e.version) <> a.version
           OR (array_agg(e.status ORDER BY e.id DESC))[1] <> a.status
           OR (array_agg(e.starts_at ORDER BY e.id DESC))[1] <> a.starts_at
           OR (array_agg(e.ends_at ORDER BY e.id DESC))[1] <> a.ends_at`,
    )
  ).rows.map((r) => `${r.id}: ${r.why}`);

  return [
    invariant(
      "acknowledged writes exactly once",
      "every 2xx booking, reschedule, completion and registration is in the database once (events by the X-Request-Id of the op's attempts)",
      acknowledged,
    ),
    invariant(
      "no write the client was told failed",
      'no appointment event was written by an attempt answered 4xx/5xx (but writeOutcome "unknown"); no refused registration is stored',
      toldFailed,
    ),
    invariant(
      "one row per idempotency key",
      "each Idempotency-Key answered 2xx has exactly one idempotency_keys row",
      keyViolations,
    ),
    invariant("no overlapping appointments", "no two scheduled appointments of a doctor overlap", overlaps),
    invariant(
      "history matches every appointment",
      "each appointment has one event per version (1..version) and its last event is its current status and slot",
      histories,
    ),
  ];
}

/** An after-check: a measured figure against its bound. */
export function bounded(name: string, detail: string, value: number, passed: boolean): Invariant {
  return { name, passed, count: value, detail, examples: passed ? [] : [`measured ${value}`] };
}
