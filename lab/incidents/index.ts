/** Every incident of the lab, in the order `npm run lab -- all` runs them. */
import type { Incident } from "../incident.ts";
import { cacheStampede } from "./cache-stampede.ts";
import { connectionStorm } from "./connection-storm.ts";
import { deployDuringTraffic } from "./deploy-during-traffic.ts";
import { leakedWork } from "./leaked-work.ts";
import { memoryGrowth } from "./memory-growth.ts";
import { nPlusOne } from "./n-plus-one.ts";
import { schemaChange } from "./schema-change.ts";
import { slowRequest } from "./slow-request.ts";
import { upstreamOutage } from "./upstream-outage.ts";

export const INCIDENTS: readonly Incident[] = [
  connectionStorm,
  nPlusOne,
  leakedWork,
  memoryGrowth,
  upstreamOutage,
  cacheStampede,
  deployDuringTraffic,
  schemaChange,
  slowRequest,
];
