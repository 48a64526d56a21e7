import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import { cancelAppointment } from "../../../db/queries/appointments.ts";
import type { AppEnv } from "../../env.ts";
import { ConflictError } from "../../http/errors.ts";
import { IdParam, IfMatchHeaders, commonErrors, conflict, notFound, staleVersion, versionedResponse } from "../../http/openapi.ts";
import { ifMatchOf } from "../../http/preconditions.ts";
import { answerChanged, assertOwnedBeforeWrite, transitioned } from "./rules.ts";
import { AppointmentSchema } from "./schemas.ts";

const tags = ["appointments"];

export const route = createRoute({
  method: "post",
  path: "/{id}/cancel",
  tags,
  summary: "Cancel an appointment",
  description:
    "Frees the slot. Cancelling a cancelled appointment returns it unchanged; a completed one is 409. " +
    "If-Match is optional; when sent, it must match (412).",
  request: { params: IdParam, headers: IfMatchHeaders },
  responses: {
    200: versionedResponse(AppointmentSchema, "The cancelled appointment"),
    ...commonErrors,
    ...notFound,
    ...conflict,
    ...staleVersion,
  },
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  await assertOwnedBeforeWrite(c, id);
  const result = await cancelAppointment(c.var.requestDb, c.var.deadline, id, ifMatchOf(c));
  const appointment = transitioned(id, result, () =>
    new ConflictError("A completed appointment cannot be cancelled", [
      { field: "id", in: "path", message: "appointment is completed" },
    ]),
  );
  return answerChanged(c, appointment, [appointment]);
};
