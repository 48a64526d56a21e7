import { resourceApp } from "../../http/openapi.ts";
import * as book from "./book.ts";
import * as list from "./list.ts";
import * as get from "./get.ts";
import * as reschedule from "./reschedule.ts";
import * as complete from "./complete.ts";
import * as history from "./history.ts";
import * as cancel from "./cancel.ts";

/** /appointments: one file per operation, its route next to its handler. */
export const appointmentsApp = resourceApp()
  .openapi(book.route, book.handler)
  .openapi(list.route, list.handler)
  .openapi(get.route, get.handler)
  .openapi(reschedule.route, reschedule.handler)
  .openapi(complete.route, complete.handler)
  .openapi(history.route, history.handler)
  .openapi(cancel.route, cancel.handler);
