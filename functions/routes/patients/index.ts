import { resourceApp } from "../../http/openapi.ts";
import * as create from "./create.ts";
import * as eligibility from "./eligibility.ts";
import * as get from "./get.ts";
import * as list from "./list.ts";
import * as update from "./update.ts";

/** /patients: one file per operation, its route next to its handler. */
export const patientsApp = resourceApp()
  .openapi(create.route, create.handler)
  .openapi(list.route, list.handler)
  .openapi(get.route, get.handler)
  .openapi(update.route, update.handler)
  .openapi(eligibility.route, eligibility.handler);
