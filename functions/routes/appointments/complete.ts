import type { RouteHandler } from "@hono/zod-openapi";
import { completeAppointment } from "../../../db/queries/appointments.ts";
import type { AppEnv } from "../../env.ts";
import { ConflictError } from "../../http/errors.ts";
import { ifMatchOf } from "../../http/preconditions.ts";
import { answerChanged, transitioned, writeOwner } from "./rules.ts";
import { transitionRoute } from "./schemas.ts";

export const route = transitionRoute(
  "complete",
  "Mark an appointment as completed",
  "Only a scheduled appointment that has begun can be completed (409 otherwise); completing a completed one " +
    "returns it unchanged. If-Match is optional; when sent, it must match (412).",
  "The completed appointment",
);

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const owner = await writeOwner(c, id);
  const result = await completeAppointment(c.var.requestDb, c.var.deadline, id, ifMatchOf(c), owner);
  const appointment = transitioned(id, result, (a) =>
    a.status === "cancelled"
      ? new ConflictError("A cancelled appointment cannot be completed", [
          { field: "id", in: "path", message: "appointment is cancelled" },
        ])
      : new ConflictError("The appointment has not begun yet", [
          { field: "id", in: "path", message: `appointment starts at ${a.startsAt.toISOString()}` },
        ]),
  );
  return answerChanged(c, appointment, [appointment]);
};
