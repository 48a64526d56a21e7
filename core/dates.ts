/** Timestamps leave the API as ISO 8601 UTC strings, whether the driver gave a Date or text. */
export function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

export const DAY_MS = 86_400_000;
