import { type RouteHandler, createRoute } from "@hono/zod-openapi";
import type { AppEnv } from "../../env.ts";
import { NotFoundError } from "../../http/errors.ts";
import { conditionalGet } from "../../http/openapi.ts";
import { conditionalJson, etagOf } from "../../http/preconditions.ts";
import { coalesced } from "../../resilience/coalescer/client.ts";
import { DoctorSchema } from "./schemas.ts";

const tags = ["doctors"];

export const route = createRoute({
  method: "get",
  path: "/{id}",
  tags,
  operationId: "getDoctor",
  summary: "Get a doctor",
  description: "Served through the doctor's coalescer (see /doctors/{id}/availability).",
  ...conditionalGet(DoctorSchema, "The doctor"),
});

export const handler: RouteHandler<typeof route, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const doctor = await coalesced(c, { loader: "doctor", doctorId: id });
  if (!doctor) throw new NotFoundError("Doctor", id);
  return conditionalJson(c, doctor, etagOf(doctor.version));
};
