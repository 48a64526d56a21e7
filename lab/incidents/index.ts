/** Every incident of the lab, in the order `npm run lab -- all` runs them. */
import type { Incident } from "../incident.ts";
import { nPlusOne } from "./n-plus-one.ts";

export const INCIDENTS: readonly Incident[] = [nPlusOne];
