/**
 * Upstream outage: the insurer is down (every connection reset). Without a breaker every request
 * calls it; a per-isolate breaker (BREAKER_SCOPE=isolate) or the shared one (the Durable Object)
 * stops calling after BREAKER_FAILURE_THRESHOLD failures and answers 503 + Retry-After at once.
 */
import { figure, type Incident, type VariantContext, type VariantSpec } from "../incident.ts";

const CONCURRENCY = 8;
/** The insurer's requests when the variant started (its stand-in counts since it started). */
let callsBefore = 0;
let patient: { id: string; memberId: string } | undefined;

const serviceDate = (): string => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

async function thePatient(ctx: VariantContext): Promise<{ id: string; memberId: string }> {
  if (patient) return patient;
  const { rows } = await ctx.target.monitor.query<{ id: string }>(
    "INSERT INTO patients (name, email, birth_date, insurance_member_id) VALUES ('Lab Outage', 'lab-outage@example.test', '1980-01-01', 'LAB-OUTAGE-1') RETURNING id",
  );
  patient = { id: rows[0]!.id, memberId: "LAB-OUTAGE-1" };
  return patient;
}

const calls = (ctx: VariantContext): number => ctx.stack.insurance.stats().requests - callsBefore;

function variant(name: string, kind: "bad" | "good", scope: "none" | "isolate" | "shared"): VariantSpec {
  return {
    name,
    kind,
    bindings: scope === "none" ? {} : { BREAKER_SCOPE: scope },
    load: async (ctx) => {
      const p = await thePatient(ctx);
      const date = serviceDate();
      const path =
        scope === "none"
          ? `/__lab/eligibility-unguarded?memberId=${p.memberId}&date=${date}`
          : `/patients/${p.id}/eligibility?date=${date}`;
      await ctx.recorder.closedLoop(
        () => ({ url: `${ctx.worker.base}${path}`, headers: ctx.headers }),
        CONCURRENCY,
        ctx.seconds,
      );
    },
    sample: (ctx) => Promise.resolve({ insurer_calls: calls(ctx) }),
    summarize: (ctx) => Promise.resolve({ "insurer calls": calls(ctx) }),
  };
}

export const upstreamOutage: Incident = {
  id: "upstream-outage",
  title: "Upstream outage",
  what: "The insurer is down: without a circuit breaker every request still calls it and waits for the failure; a breaker (per isolate or shared by the fleet) stops the calls after a few failures and answers 503 with Retry-After at once.",
  alerts: ["UpstreamCallsFailing"],
  before: (stack) => {
    stack.insurance.controls({ down: true, latencyMs: 0, errorRate: 0 });
    callsBefore = stack.insurance.stats().requests;
  },
  variants: [
    variant("bad: no breaker", "bad", "none"),
    variant("good: per-isolate breaker", "good", "isolate"),
    variant("good: shared breaker", "good", "shared"),
  ],
  checks: ([bad, ...goods]) => [
    {
      name: "calls reaching the dead insurer: bounded with a breaker, one per attempt without",
      passed:
        figure(bad, "insurer calls") >= figure(bad, "requests") &&
        goods.every(
          (g) => figure(g, "insurer calls") <= 20 && figure(g, "insurer calls") * 5 < figure(bad, "insurer calls"),
        ),
      detail: [bad, ...goods]
        .map((v) => `${v!.name}: ${figure(v, "insurer calls")} calls for ${figure(v, "requests")} requests`)
        .join("; "),
    },
  ],
};
