import { resourceApp } from "../../http/openapi.ts";
import * as create from "./create.ts";
import * as list from "./list.ts";
import * as get from "./get.ts";
import * as update from "./update.ts";
import * as availability from "./availability.ts";
import * as deactivate from "./deactivate.ts";
import * as getSchedule from "./get-schedule.ts";
import * as replaceSchedule from "./replace-schedule.ts";

/** /doctors: one file per operation, its route next to its handler. */
export const doctorsApp = resourceApp()
  .openapi(create.route, create.handler)
  .openapi(list.route, list.handler)
  .openapi(get.route, get.handler)
  .openapi(update.route, update.handler)
  .openapi(deactivate.route, deactivate.handler)
  .openapi(getSchedule.route, getSchedule.handler)
  .openapi(replaceSchedule.route, replaceSchedule.handler)
  .openapi(availability.route, availability.handler);
