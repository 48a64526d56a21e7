import type { RequestDb } from "../../../db/client.ts";
import { findAvailability, type Availability } from "../../../db/queries/availability.ts";
import { findDoctor } from "../../../db/queries/doctors.ts";
import type { Deadline } from "../../../core/deadline.ts";
import { toDoctor, type Doctor } from "../../routes/doctors/schemas.ts";

/**
 * The reads worth coalescing, by name. A load returns plain JSON (or null for "not found"), so
 * its result can be handed from the Durable Object that ran it to every waiting request: nothing
 * I/O-bound crosses a request boundary.
 */
export type LoadRequest =
  { loader: "doctor"; doctorId: string } | { loader: "availability"; doctorId: string; date: string };

export interface LoadResults {
  doctor: Doctor;
  availability: Availability;
}

export type LoadResult<R extends LoadRequest> = LoadResults[R["loader"]];

/** The cache key of a load inside its doctor's coalescer. */
export function keyOf(request: LoadRequest): string {
  return request.loader === "availability" ? `availability:${request.date}` : "doctor";
}

export async function runLoad<R extends LoadRequest>(
  request: R,
  db: RequestDb,
  deadline: Deadline,
): Promise<LoadResult<R> | null> {
  switch (request.loader) {
    case "doctor": {
      const row = await findDoctor(db, deadline, request.doctorId);
      return (row ? toDoctor(row) : null) as LoadResult<R> | null;
    }
    case "availability":
      return ((await findAvailability(db, deadline, request.doctorId, request.date)) ?? null) as LoadResult<R> | null;
  }
}
