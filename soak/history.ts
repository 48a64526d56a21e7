/**
 * The client-side history: one JSON line per HTTP attempt (request, answer or its absence, start
 * and end in ms after the load started), written as it happens so a crash still leaves a history.
 */
import { createWriteStream, type WriteStream } from "node:fs";

/** The answer's headers the checker reads. */
const KEPT_HEADERS = ["etag", "retry-after", "idempotent-replayed", "x-request-id", "content-type"] as const;

export interface Attempt {
  /** The logical operation this attempt belongs to (retries share it). */
  op: number;
  kind: string;
  attempt: number;
  method: string;
  path: string;
  requestHeaders: Record<string, string>;
  body?: unknown;
  startMs: number;
  endMs: number;
  /** Absent when no answer came (timeout, reset, the client hung up). */
  status?: number;
  headers?: Record<string, string>;
  answer?: string;
  /** Why there was no answer. */
  error?: string;
}

export function keptHeaders(headers: Headers): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const v = headers.get(name);
    if (v !== null) kept[name] = v;
  }
  return kept;
}

export class History {
  readonly attempts: Attempt[] = [];
  readonly #out: WriteStream;

  constructor(path: string) {
    this.#out = createWriteStream(path);
  }

  record(a: Attempt): void {
    this.attempts.push(a);
    this.#out.write(`${JSON.stringify(a)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#out.end(() => resolve()));
  }
}
