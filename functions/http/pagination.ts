import { z } from "zod";
import { ValidationError } from "./errors.ts";

/**
 * Keyset pagination cursors: the sort key of the last row of a page, opaque to clients
 * (base64url JSON). A tampered or foreign cursor is a 400 naming `cursor`, never a 500.
 */
export function encodeCursor(key: readonly [string, string]): string {
  const bytes = new TextEncoder().encode(JSON.stringify(key));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor<T>(cursor: string | undefined, shape: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const bin = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const json: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
    const parsed = shape.safeParse(json);
    if (parsed.success) return parsed.data;
  } catch {
    // fall through: not base64 or not JSON
  }
  throw new ValidationError([{ field: "cursor", in: "query", message: "is not a cursor this endpoint issued" }]);
}

/** Cursor keys: [sort value, id]. */
export const NameCursor = z.tuple([
  z
    .string()
    .max(300)
    .refine((v) => !v.includes("\u0000")),
  z.uuid(),
]);
export const InstantCursor = z.tuple([z.iso.datetime({ offset: true }), z.uuid()]);

/** Splits a `limit + 1` fetch into the page and the next cursor. */
export function paginate<R, O>(
  rows: R[],
  limit: number,
  keyOf: (row: R) => readonly [string, string],
  map: (row: R) => O,
) {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return {
    data: pageRows.map(map),
    nextCursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
