/**
 * Keyset pagination's cursors and page split (functions/http/pagination.ts) on their own.
 */
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../functions/http/errors.ts";
import { InstantCursor, NameCursor, decodeCursor, encodeCursor, paginate } from "../../functions/http/pagination.ts";

const ID = "0b5d3c9e-8f1a-4c2b-9d3e-5f6a7b8c9d0e";
const OTHER_ID = "6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

/** The ValidationError decodeCursor throws for `cursor` (anything else fails the test). */
function refusal(run: () => unknown): ValidationError {
  try {
    run();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error("the cursor was accepted");
}

describe("cursors", () => {
  it("round-trip a name key, whatever the characters in the name", () => {
    for (const name of ["Adams", "Dr. Ünïcode — 名前 🩺", 'O\'Brien, "Pat"', ""]) {
      expect(decodeCursor(encodeCursor([name, ID]), NameCursor), name).toEqual([name, ID]);
    }
  });

  it("round-trip an instant key, with or without an offset", () => {
    for (const at of ["2026-03-01T09:30:00.000Z", "2026-03-01T11:30:00+02:00"]) {
      expect(decodeCursor(encodeCursor([at, ID]), InstantCursor), at).toEqual([at, ID]);
    }
  });

  it("are URL-safe base64 without padding", () => {
    for (const name of ["a", "ab", "abc", "?>?>?>", "ÿÿÿ~~~", "名前".repeat(20)]) {
      expect(encodeCursor([name, ID]), name).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it("decode no cursor to undefined (the first page)", () => {
    expect(decodeCursor(undefined, NameCursor)).toBeUndefined();
  });

  it("refuse garbage and tampered cursors with a 400 naming the cursor query parameter", () => {
    const forged = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, "");
    for (const bad of [
      "",
      "!!!not base64!!!",
      btoa("not json"),
      forged({ name: "Adams", id: ID }),
      forged(["Adams"]),
      forged(["Adams", "not-a-uuid"]),
      forged(["Adams", ID, "extra"]),
      forged(["nul\u0000byte", ID]),
      forged(["x".repeat(301), ID]),
      encodeCursor(["Adams", ID]).slice(0, -3),
    ]) {
      const err = refusal(() => decodeCursor(bad, NameCursor));
      expect(err.status, bad).toBe(400);
      expect(err.errors, bad).toEqual([expect.objectContaining({ field: "cursor", in: "query" })]);
    }
  });

  it("refuse a cursor issued for another sort key (a name where an instant is expected)", () => {
    const nameCursor = encodeCursor(["Adams", ID]);
    expect(refusal(() => decodeCursor(nameCursor, InstantCursor)).errors?.[0]?.field).toBe("cursor");
  });
});

describe("paginate", () => {
  interface Row {
    name: string;
    id: string;
  }
  const rows: Row[] = [
    { name: "Adams", id: ID },
    { name: "Baker", id: OTHER_ID },
    { name: "Clark", id: "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d" },
  ];
  const keyOf = (row: Row) => [row.name, row.id] as const;
  const toName = (row: Row) => row.name;

  it("gives no next cursor when the fetch of limit + 1 found limit rows or fewer", () => {
    expect(paginate(rows, 3, keyOf, toName)).toEqual({ data: ["Adams", "Baker", "Clark"], nextCursor: null });
    expect(paginate(rows, 5, keyOf, toName)).toEqual({ data: ["Adams", "Baker", "Clark"], nextCursor: null });
    expect(paginate([], 5, keyOf, toName)).toEqual({ data: [], nextCursor: null });
  });

  it("drops the extra row and points the next cursor at the page's last row", () => {
    const page = paginate(rows, 2, keyOf, toName);
    expect(page.data).toEqual(["Adams", "Baker"]);
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor ?? undefined, NameCursor)).toEqual(["Baker", OTHER_ID]);
  });

  it("points the next cursor at the last row of a longer page, not at any other", () => {
    const more = [...rows, { name: "Davis", id: ID }];
    const page = paginate(more, 3, keyOf, toName);
    expect(page.data).toEqual(["Adams", "Baker", "Clark"]);
    expect(decodeCursor(page.nextCursor ?? undefined, NameCursor)).toEqual(["Clark", rows[2]!.id]);
  });
});
