import type { RouteHandler } from "@hono/zod-openapi";
import { cancelAppointment } from "../../../db/queries/appointments.ts";
import type { AppEnv } from "../../env.ts";
import { ConflictError } from "../../http/errors.ts";
import { ifMatchOf } from "../../http/preconditions.ts";
import { answerChanged, transitioned, writeOwner } from "./rules.ts";
import { transitionRoute } from "./schemas.ts";

export const route = transitionRoute(
  "cancel",
  "Cancel an appointment",
  "Frees the slot. Cancelling a cancelled appointment returns it unchanged; a completed one is 409. " +
    "If-Match is optional; when sent, it must match (412).",
  "The cancelled appointment",
);

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const owner = await writeOwner(c, id);
  const result = await cancelAppointment(c.var.requestDb, c.var.deadline, id, ifMatchOf(c), owner);
  const appointment = transitioned(
    id,
    result,
    () =>
      new ConflictError("A completed appointment cannot be cancelled", [
        { field: "id", in: "path", message: "appointment is completed" },
      ]),
  );
  return answerChanged(c, appointment, [appointment]);
};
