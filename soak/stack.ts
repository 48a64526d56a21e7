/**
 * The stack a soak runs against: a scratch database (bench/lib/stack.ts) behind the outage switch
 * (dev/outage-switch.ts), so the database can be switched off; the bridge and /sql endpoint in
 * front of the switch; the insurer's stand-in (dev/insurance.ts); and the built Worker on workerd
 * (Miniflare) with its Durable Objects persisted on disk and its inspector open, so it can be
 * restarted mid-load (`restart()`: setOptions with the same options, a new runtime over the same
 * storage) and its heap read. Loopback only.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type V4MiniflareOptions } from "miniflare";
import pg from "pg";
import { startInsurance, type InsuranceStandIn } from "../dev/insurance.ts";
import { startOutageSwitch } from "../dev/outage-switch.ts";
import { runtimeOutput } from "../bench/lib/runtime-log.ts";
import {
  BUILT_WORKER,
  freePort,
  localServices,
  scratchDatabase,
  wranglerSettings,
  type LocalServices,
} from "../bench/lib/stack.ts";

export interface SoakStack {
  base: string;
  where: string;
  /** The database itself, not through the switch: the checker's and the fault injector's way in. */
  databaseUrl: string;
  services: LocalServices;
  insurance: InsuranceStandIn;
  /** POST /down or /up on the outage switch. */
  outage(down: boolean): Promise<void>;
  /** The Worker's runtime restarted with the same options and the same Durable Object storage. */
  restart(): Promise<void>;
  /** 127.0.0.1:<port> of workerd's inspector. */
  inspector: string;
  close(): Promise<void>;
}

/** The application_name of the soak's own connections (never terminated by the pg-terminate fault). */
export const SOAK_APP = "clinic-edge-soak";

export async function startSoakStack(): Promise<SoakStack> {
  const closers: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse())
      await c().catch((err: unknown) => console.error(`[soak] teardown step failed: ${String(err)}`));
  };
  try {
    const db = await scratchDatabase("soak");
    closers.push(() => db.drop());
    const target = new URL(db.url);
    const outageSwitch = await startOutageSwitch({ host: target.hostname, port: Number(target.port || "5432") });
    closers.push(() => outageSwitch.close());
    const switched = new URL(db.url);
    switched.host = outageSwitch.address;
    // The /sql stand-in's warm connections are the provider's, not the Worker's: they close 1 s after
    // going idle, so "backends back to baseline" counts what the Worker still holds, not how large
    // the stand-in's pool grew (with its 60 s default, a burst outlived the 30 s settle).
    const services = await localServices(switched.href, { sqlIdleTimeoutMs: 1_000 });
    closers.push(() => services.close());
    const apiKey = `soak-${crypto.randomUUID()}`;
    const insurance = await startInsurance({ apiKey });
    closers.push(() => insurance.close());
    const persist = await mkdtemp(join(tmpdir(), "clinic-edge-soak-do-"));
    closers.push(() => rm(persist, { recursive: true, force: true }));

    const settings = wranglerSettings();
    const port = await freePort();
    const inspectorPort = await freePort();
    const options: V4MiniflareOptions = {
      name: "clinic-edge",
      modules: true,
      scriptPath: BUILT_WORKER,
      modulesRoot: dirname(BUILT_WORKER),
      compatibilityDate: settings.compatibilityDate,
      compatibilityFlags: settings.compatibilityFlags,
      durableObjects: settings.durableObjects,
      bindings: {
        ...settings.bindings,
        ...services.bindings,
        INSURANCE_API_URL: insurance.url,
        INSURANCE_API_KEY: apiKey,
      },
      host: "127.0.0.1",
      port,
      inspectorPort,
      cf: false,
      resourcePersistencePath: persist,
      log: new Log(LogLevel.WARN),
      ...runtimeOutput(),
    };
    const mf = new Miniflare(convertV4MiniflareOptions(options));
    closers.push(() => mf.dispose());
    await mf.ready;
    const control = async (path: string): Promise<void> => {
      const res = await fetch(`${outageSwitch.controlUrl}${path}`, { method: "POST" });
      if (!res.ok) throw new Error(`outage switch ${path}: ${res.status}`);
    };
    return {
      base: `http://127.0.0.1:${port}`,
      where: db.where,
      databaseUrl: db.url,
      services,
      insurance,
      outage: (down) => control(down ? "/down" : "/up"),
      restart: async () => {
        await mf.setOptions(convertV4MiniflareOptions(options));
      },
      inspector: `127.0.0.1:${inspectorPort}`,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A connection of the soak's own, straight to the database. */
export async function soakConnection(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: SOAK_APP });
  await client.connect();
  return client;
}
