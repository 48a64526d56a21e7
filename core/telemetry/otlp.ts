/**
 * What the span and metric exporters share: OTLP/JSON attribute encoding and the POST itself.
 * OTLP/JSON (the protobuf messages' JSON mapping): 64-bit integers and times as decimal strings.
 */

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue | undefined>;

export type OtlpValue =
  { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
export type OtlpKeyValue = { key: string; value: OtlpValue };

function otlpValue(value: AttributeValue): OtlpValue {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
}

/** Attributes as OTLP KeyValues; undefined values are left out. */
export function otlpAttributes(attributes: Attributes): OtlpKeyValue[] {
  const out: OtlpKeyValue[] = [];
  for (const [key, value] of Object.entries(attributes))
    if (value !== undefined) out.push({ key, value: otlpValue(value) });
  return out;
}

/** Nanoseconds since the epoch as a decimal string (OTLP/JSON's fixed64 encoding). */
export function nowNanos(): string {
  // Date.now() rather than performance.now(): on Workers both advance only with I/O, and times from
  // the Worker and its Durable Objects must share one clock.
  return `${Date.now()}000000`;
}

/** Extra headers of every export request (OTEL_EXPORTER_OTLP_HEADERS): a hosted backend's credentials. */
export type OtlpHeaders = Readonly<Record<string, string>>;

/**
 * OTEL_EXPORTER_OTLP_HEADERS as the OpenTelemetry spec writes it: `key=value` pairs separated by
 * commas, values percent-encoded (`Authorization=Basic%20abc`). Throws on a malformed pair.
 */
export function parseOtlpHeaders(text: string): OtlpHeaders {
  const headers: Record<string, string> = {};
  for (const pair of text.split(",")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq).trim() : "";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) throw new Error("each entry must be name=value with a header name");
    headers[key.toLowerCase()] = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  return headers;
}

/** POSTs one OTLP/HTTP JSON export request to `<endpoint>/<signalPath>` (v1/traces, v1/metrics). */
export async function postOtlp(
  endpoint: string,
  headers: OtlpHeaders,
  signalPath: string,
  body: unknown,
  signal: AbortSignal | undefined,
): Promise<void> {
  const base = endpoint.endsWith("/") ? endpoint : `${endpoint}/`;
  const res = await fetch(new URL(signalPath, base), {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  // The body must be read (or cancelled) for the connection to be reused.
  await res.body?.cancel();
  if (!res.ok) throw new Error(`OTLP collector answered ${res.status} to ${signalPath}`);
}
