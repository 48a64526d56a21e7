import { DrizzleQueryError } from "drizzle-orm/errors";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi, onTestFinished } from "vitest";
import { newApp } from "../../functions/app.ts";
import { answerLost } from "../../db/errors.ts";
import { ApiError, fromDatabaseError } from "../../functions/http/errors.ts";
import { policyWith } from "../helpers/auth.ts";

/** A pg DatabaseError as the Neon driver raises it, wrapped the way Drizzle wraps query failures. */
function drizzleError(code: string, constraint?: string): DrizzleQueryError {
  const cause = Object.assign(new Error("db said no"), { code, constraint });
  return new DrizzleQueryError("insert into patients ... params: secret@example.com", ["secret@example.com"], cause);
}

describe("onError", () => {
  it("answers an unexpected error with a 500 problem that leaks nothing and logs without parameters", async () => {
    const app = newApp({ policy: policyWith({ "GET /boom": { allow: "public" } }) });
    app.get("/boom", () => {
      throw drizzleError("XX000");
    });
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    onTestFinished(() => log.mockRestore());
    const res = await app.request("/boom", {}, env);
    const body = await res.text();

    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(JSON.parse(body)).toMatchObject({ status: 500, type: "https://clinic-edge.dev/problems/internal-error" });
    expect(body).not.toMatch(/insert|secret|db said no/);
    const logged = log.mock.calls.map((args) => args.join(" ")).join("\n");
    expect(logged).toContain("db said no");
    expect(logged).not.toContain("secret@example.com");
  });
});

describe("fromDatabaseError", () => {
  it("maps the overlap exclusion constraint to 409 naming startsAt", () => {
    const err = fromDatabaseError(drizzleError("23P01", "appointments_no_overlap"));
    expect(err).toBeInstanceOf(ApiError);
    expect(err?.status).toBe(409);
    expect(err?.errors?.[0]?.field).toBe("startsAt");
  });

  it("maps the case-insensitive email key to 409 naming email", () => {
    const err = fromDatabaseError(drizzleError("23505", "patients_email_lower_key"));
    expect(err?.status).toBe(409);
    expect(err?.errors?.[0]?.field).toBe("email");
  });

  it("maps invalid values the database refuses to 400", () => {
    expect(fromDatabaseError(drizzleError("22008"))?.status).toBe(400);
  });

  it("leaves server-side failures unmapped", () => {
    expect(fromDatabaseError(drizzleError("XX000"))).toBeUndefined();
    expect(fromDatabaseError(new Error("plain"))).toBeUndefined();
  });

  it("maps a lost or refused connection to 503 with Retry-After, on either path", () => {
    for (const err of [
      drizzleError("57P01"), // the backend was terminated
      drizzleError("53300"), // too many connections
      drizzleError("08006"), // connection failure
      new Error("Connection terminated unexpectedly"), // WebSocket path, socket closed
      new Error("Server error (HTTP status 502): bad gateway"), // HTTP path, endpoint failed
      new Error("Error connecting to database: TypeError: Network connection lost."),
    ]) {
      const mapped = fromDatabaseError(err);
      expect(mapped?.status, err.message).toBe(503);
      expect(mapped?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
  });
});

describe("answerLost: whether a failed round trip may still have committed", () => {
  it("says yes when the connection dropped or the deadline cut the wait with the round trip in flight", () => {
    for (const err of [
      drizzleError("57P01"), // the backend was terminated: which statement it reached is unknown
      drizzleError("08006"),
      new Error("Connection terminated unexpectedly"),
      new Error("Server error (HTTP status 500): Connection terminated unexpectedly"),
      new Error("Error connecting to database: TypeError: Network connection lost."),
    ]) {
      expect(answerLost(err, false), err.message).toBe(true);
    }
    expect(answerLost(new DOMException("The operation was aborted", "AbortError"), true)).toBe(true);
  });

  it("says no when Postgres answered with the statement's own error, or the connection was never made", () => {
    for (const err of [
      drizzleError("23P01"), // refused: the transaction rolled back
      drizzleError("53300"), // too many connections
      drizzleError("57P03"), // starting up
      new Error("Server error (HTTP status 500): connect ECONNREFUSED 127.0.0.1:5432"),
      new Error("timeout exceeded when trying to connect"),
    ]) {
      expect(answerLost(err, false), err.message).toBe(false);
    }
    // statement_timeout answered: Postgres cancelled the statement and rolled back.
    expect(answerLost(drizzleError("57014"), true)).toBe(false);
  });
});
