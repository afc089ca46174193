/**
 * The rate-limit scenarios (the issue "Use Auth0's rate limits as Auth0 enforces them"), run by bench/bench.ts.
 * Each is a first sync of `rows` clean demo users with their 1-2 roles, through `runLocalPipeline` on a fresh
 * state directory (new warehouse, empty tenant, empty ledger), the emulator answering with the bench's latency.
 * Only the sync's Management API calls count (the emulator's request log without /oauth/token; a competing
 * client's requests never reach that log).
 *
 * - (a) the sync configured for 16/s (burst 50) against a tenant that gives 10/s: few 429s, and the tenant's 10/s
 *   used nearly whole (the adaptive pacers learn the real rate).
 * - (b) configured and tenant 16/s (burst 50); from `startAfterMs` on, another client spends 8/s of the bucket:
 *   few 429s, and the sync uses nearly all of what is left.
 * - (c) the first sync at the matched budget keeps its utilisation: bench.ts takes it from scenario 1, or (with
 *   `--only rate`) `matchedBudget` runs it here.
 * - Professional: config and tenant on Auth0's Professional plan (one bucket per endpoint group); per bucket
 *   calls, 429s and utilisation, and the time against the write bucket's ideal. "Before": the same tenant with the
 *   sync configured for one global 16/s, the misread plan of the issue.
 */
import { join } from "node:path";
import { parseConfig, type SyncConfig } from "../functions/core/config.js";
import { consumerBudget } from "../functions/core/budget.js";
import { GLOBAL_BUCKET, resolveRateLimits, type RateLimitSettings } from "../functions/core/rate-limits.js";
import type { CompetitorSettings, RequestLogEntry } from "../local/auth0-emulator.js";
import { runLocalPipeline, type LocalEnvironment, type LocalRunSummary, type Progress } from "../local/pipeline.js";
import { perUserCreates } from "./create-path.js";
import { cleanRows, writeWarehouse } from "./warehouse.js";

export interface BucketFigures {
  bucket: string;
  requestsPerSecond: number;
  burst: number;
  calls: number;
  status429: number;
  admitted: number;
  /** Admitted calls over the run's span (first call to last), over the bucket's rate. */
  utilisation: number;
}

export interface RateRun {
  name: string;
  /** The sync's limits (its config) and the emulated tenant's. */
  configured: string;
  tenant: string;
  consumerInstances: number;
  rows: number;
  summary: Pick<LocalRunSummary, "created" | "updated" | "unchanged" | "rejected" | "deadLettered" | "unaccounted">;
  calls: number;
  status429: number;
  share429: number;
  admitted: number;
  /** First call to last, seconds. */
  spanS: number;
  admittedPerS: number;
  /** The sync's wall time (extractor start to last outcome). */
  syncS: number;
  callsPerNewUser: number;
  byBucket: BucketFigures[];
  byRoute: Record<string, number>;
}

export interface TenantBelowConfigFigures extends RateRun {
  tenantRate: number;
  tenantBurst: number;
  /** Admitted calls per second over the span, over the tenant's rate. */
  rateShare: number;
  met: boolean;
}

export interface CompetitorFigures extends RateRun {
  competitor: CompetitorSettings;
  /** The competitor's requests until the sync's last outcome. */
  competitorStats: { attempted: number; admitted: number; refused: number };
  competitorAdmittedPerS: number;
  /** From the competitor's start to the sync's last call. */
  windowS: number;
  syncAdmittedInWindow: number;
  syncAdmittedPerS: number;
  /** The bucket's rate less the competitor's. */
  left: number;
  shareOfLeft: number;
  met: boolean;
}

export interface MatchedFigures {
  source: string;
  rows: number;
  rate: number;
  consumerInstances: number;
  /** The sync's wall time. */
  syncS: number;
  calls: number;
  status429: number;
  share429: number;
  utilisation: number;
  callsPerNewUser: number;
  met: boolean;
}

export interface PlanFigures extends RateRun {
  writeRate: number;
  /** New users over the writeUsers bucket's rate. */
  idealS: number;
  idealOverActual: number;
  met: boolean;
}

export interface RateScenariosFigures {
  rows: number;
  tenantBelowConfig: TenantBelowConfigFigures;
  competitor: CompetitorFigures;
  /** Only with `--only rate`; otherwise bench.ts reports scenario 1 as (c). */
  matched?: MatchedFigures;
  professional: PlanFigures;
  professionalBefore?: PlanFigures;
}

export const TARGETS = { share429: 0.01, tenantRateShare: 0.9, shareOfLeft: 0.85, matchedUtilisation: 0.99, callsPerNewUser: 1.05 };

export interface RateScenarioOptions {
  /** The bench's config (roles, SQL, queue); each scenario sets its own auth0 limits. */
  config: SyncConfig;
  rows: number;
  latencyMs: number;
  jitterMs: number;
  root: string;
  /** The matched budget of (c) when run here (`--only rate`), and its rows (default `rows`). */
  matchedRate?: number;
  matchedRows?: number;
  /** Run (c) here. */
  matched?: boolean;
  /** Run Professional's "before" row. */
  before?: boolean;
  onProgress?: (label: string) => (p: Progress) => void;
  log?: (line: string) => void;
}

/** The config with these limits in place of its own (plan, global budget and group overrides). */
export function withLimits(config: SyncConfig, limits: RateLimitSettings): SyncConfig {
  const auth0 = { ...config.auth0, plan: undefined, rateLimit: undefined, endpointGroups: undefined, ...limits };
  return parseConfig(JSON.stringify({ ...config, auth0 }));
}

export function limitsLabel(s: RateLimitSettings): string {
  if (s.plan) return `plan ${s.plan}`;
  const { buckets } = resolveRateLimits(s);
  return Object.entries(buckets)
    .map(([name, b]) => `${name === GLOBAL_BUCKET ? "global" : name} ${fmt(b.requestsPerSecond, Number.isInteger(b.requestsPerSecond) ? 0 : 2)}/s (burst ${b.burst})`)
    .join(", ");
}

const fmt = (v: number, d = 1) => v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const pct = (v: number, d = 1) => `${fmt(v * 100, d)}%`;

/** The sync's Management API calls, by arrival. */
const productCalls = (log: readonly RequestLogEntry[]) => log.filter((e) => e.route !== "/oauth/token").sort((x, y) => x.t - y.t);

interface Observed {
  run: RateRun;
  calls: RequestLogEntry[];
  env: LocalEnvironment;
  /** Epoch ms of the competitor's clock start (setCompetitor), when there is one. */
  competitorOrigin?: number;
  competitorAtEnd?: { attempted: number; admitted: number; refused: number };
  lastOutcomeAt: number;
}

async function runOnce(
  o: RateScenarioOptions,
  name: string,
  slug: string,
  config: SyncConfig,
  extra: { tenantLimits?: RateLimitSettings; rate?: number; burst?: number; competitor?: CompetitorSettings; rows?: number },
): Promise<Observed> {
  const stateDir = join(o.root, `rate-${slug}`);
  const rows = extra.rows ?? o.rows;
  await writeWarehouse(stateDir, cleanRows(rows));
  let env: LocalEnvironment | undefined;
  let competitorOrigin: number | undefined;
  let competitorAtEnd: Observed["competitorAtEnd"];
  let lastOutcomeAt = 0;
  const summary = await runLocalPipeline({
    config,
    stateDir,
    latencyMs: o.latencyMs,
    jitterMs: o.jitterMs,
    ...(extra.rate !== undefined ? { rate: extra.rate, burst: extra.burst ?? extra.rate } : {}),
    ...(extra.tenantLimits ? { tenantLimits: extra.tenantLimits } : {}),
    onEnvironment: (e) => {
      env = e;
      // Set on the running emulator right before the extract starts, so its clock (startAfterMs) is known here.
      if (extra.competitor) {
        competitorOrigin = Date.now();
        e.emulator?.setCompetitor(extra.competitor);
      }
    },
    onOutcome: () => {
      lastOutcomeAt = Date.now();
      if (extra.competitor) competitorAtEnd = env?.emulator?.competitorStats();
    },
    onProgress: o.onProgress?.(name),
  });
  if (!env?.emulator) throw new Error(`${name}: no emulator`);
  const calls = productCalls(env.emulator.requestLog);
  const tenantSettings: RateLimitSettings = extra.rate !== undefined ? { rateLimit: { requestsPerSecond: extra.rate, burst: extra.burst ?? extra.rate } } : (extra.tenantLimits ?? config.auth0);
  const syncSettings: RateLimitSettings = extra.rate !== undefined ? tenantSettings : config.auth0;
  const spanS = calls.length > 1 ? (calls.at(-1)!.t - calls[0]!.t) / 1000 : 0;
  const admitted = calls.filter((e) => e.status !== 429).length;
  const status429 = calls.length - admitted;
  const { buckets } = resolveRateLimits(tenantSettings);
  const byBucket: BucketFigures[] = Object.entries(buckets).map(([bucket, b]) => {
    const mine = calls.filter((e) => e.bucket === bucket);
    const ok = mine.filter((e) => e.status !== 429).length;
    return { bucket, requestsPerSecond: b.requestsPerSecond, burst: b.burst, calls: mine.length, status429: mine.length - ok, admitted: ok, utilisation: spanS > 0 ? ok / spanS / b.requestsPerSecond : 0 };
  });
  const byRoute: Record<string, number> = {};
  for (const e of calls) {
    const k = `${e.method} ${e.route.replace("/api/v2", "")} ${e.status}`;
    byRoute[k] = (byRoute[k] ?? 0) + 1;
  }
  const pick = { created: summary.created, updated: summary.updated, unchanged: summary.unchanged, rejected: summary.rejected, deadLettered: summary.deadLettered, unaccounted: summary.unaccounted };
  o.log?.(`${name}: ${JSON.stringify({ ...pick, calls: calls.length, status429, syncS: summary.syncMs / 1000 })}`);
  const run: RateRun = {
    name,
    configured: limitsLabel(syncSettings),
    tenant: limitsLabel(tenantSettings),
    consumerInstances: consumerBudget(env.config).maxConcurrency,
    rows,
    summary: pick,
    calls: calls.length,
    status429,
    share429: calls.length > 0 ? status429 / calls.length : 0,
    admitted,
    spanS,
    admittedPerS: spanS > 0 ? admitted / spanS : 0,
    syncS: summary.syncMs / 1000,
    callsPerNewUser: summary.created > 0 ? calls.length / summary.created : 0,
    byBucket,
    byRoute,
  };
  return { run, calls, env, competitorOrigin, competitorAtEnd, lastOutcomeAt };
}

/** (a): configured 16/s, burst 50; the tenant gives 10/s, burst 10. */
async function tenantBelowConfig(o: RateScenarioOptions): Promise<TenantBelowConfigFigures> {
  const tenant = { requestsPerSecond: 10, burst: 10 };
  const config = withLimits(o.config, { rateLimit: { requestsPerSecond: 16, burst: 50 } });
  const { run } = await runOnce(o, "(a) configured 16/s against a tenant of 10/s", "a", config, { tenantLimits: { rateLimit: tenant } });
  const rateShare = run.admittedPerS / tenant.requestsPerSecond;
  return { ...run, tenantRate: tenant.requestsPerSecond, tenantBurst: tenant.burst, rateShare, met: run.share429 < TARGETS.share429 && rateShare >= TARGETS.tenantRateShare };
}

/** (b): configured and tenant 16/s, burst 50; another client takes 8/s from 3 s on. */
async function competitorTakesHalf(o: RateScenarioOptions): Promise<CompetitorFigures> {
  const limit = { requestsPerSecond: 16, burst: 50 };
  const competitor: CompetitorSettings = { requestsPerSecond: 8, bucket: GLOBAL_BUCKET, startAfterMs: 3000 };
  const config = withLimits(o.config, { rateLimit: limit });
  const r = await runOnce(o, "(b) another client takes half the bucket", "b", config, { competitor });
  const from = r.competitorOrigin! + (competitor.startAfterMs ?? 0);
  const last = r.calls.at(-1)?.t ?? from;
  const windowS = (last - from) / 1000;
  const syncAdmittedInWindow = r.calls.filter((e) => e.t >= from && e.status !== 429).length;
  const syncAdmittedPerS = windowS > 0 ? syncAdmittedInWindow / windowS : 0;
  const left = limit.requestsPerSecond - competitor.requestsPerSecond;
  const stats = r.competitorAtEnd ?? { attempted: 0, admitted: 0, refused: 0 };
  const competitorS = (r.lastOutcomeAt - from) / 1000;
  const shareOfLeft = syncAdmittedPerS / left;
  return {
    ...r.run,
    tenant: `${r.run.tenant}; a competitor tries ${competitor.requestsPerSecond}/s from ${fmt((competitor.startAfterMs ?? 0) / 1000)} s on`,
    competitor,
    competitorStats: stats,
    competitorAdmittedPerS: competitorS > 0 ? stats.admitted / competitorS : 0,
    windowS,
    syncAdmittedInWindow,
    syncAdmittedPerS,
    left,
    shareOfLeft,
    met: windowS > 0 && r.run.share429 < TARGETS.share429 && shareOfLeft >= TARGETS.shareOfLeft,
  };
}

/** (c) when run alone: a first sync with one global bucket of `rate` for both the tenant and the sync. */
async function matchedBudget(o: RateScenarioOptions, rate: number, rows: number): Promise<MatchedFigures> {
  const { run } = await runOnce(o, `(c) first sync at the matched budget (${rate}/s)`, "c", o.config, { rate, burst: rate, rows });
  const utilisation = run.spanS > 0 ? run.calls / run.spanS / rate : 0;
  return {
    source: `a first sync of ${fmt(rows, 0)} users here`,
    rows,
    rate,
    consumerInstances: run.consumerInstances,
    syncS: run.syncS,
    calls: run.calls,
    status429: run.status429,
    share429: run.share429,
    utilisation,
    callsPerNewUser: run.callsPerNewUser,
    met: utilisation >= TARGETS.matchedUtilisation,
  };
}

async function professional(o: RateScenarioOptions, before: boolean): Promise<PlanFigures> {
  const plan: RateLimitSettings = { plan: "professional" };
  const config = before ? withLimits(o.config, { rateLimit: { requestsPerSecond: 16, burst: 50 } }) : withLimits(o.config, plan);
  const name = before ? "Professional, before: configured for one global 16/s" : "Professional: config and tenant on the plan";
  const { run } = await runOnce(o, name, before ? "pro-before" : "pro", config, before ? { tenantLimits: plan } : {});
  const writeRate = resolveRateLimits(plan).buckets.writeUsers!.requestsPerSecond;
  const idealS = run.summary.created / writeRate;
  return {
    ...run,
    writeRate,
    idealS,
    idealOverActual: run.syncS > 0 ? idealS / run.syncS : 0,
    met: run.share429 < TARGETS.share429 && run.callsPerNewUser <= TARGETS.callsPerNewUser,
  };
}

export async function rateScenarios(opts: RateScenarioOptions): Promise<RateScenariosFigures> {
  // Each scenario measures the per-user create path against the buckets (POST /users and grouped roles): pinned,
  // so that `--rate-rows` of 1,000 or more never sends the users through import jobs (create.bulk's default, auto).
  const o: RateScenarioOptions = { ...opts, config: perUserCreates(opts.config) };
  const out: RateScenariosFigures = {
    rows: o.rows,
    tenantBelowConfig: await tenantBelowConfig(o),
    competitor: await competitorTakesHalf(o),
    professional: undefined as unknown as PlanFigures,
  };
  if (o.matched) out.matched = await matchedBudget(o, o.matchedRate ?? 50, o.matchedRows ?? o.rows);
  out.professional = await professional(o, false);
  if (o.before) out.professionalBefore = await professional(o, true);
  return out;
}

const metText = (met: boolean) => (met ? "met" : "NOT met");

/** The rate scenarios as Markdown; `matched` is (c) (scenario 1's figures, or the run above). */
export function rateScenarioLines(f: RateScenariosFigures, matched: MatchedFigures | undefined, latency: string): string[] {
  const a = f.tenantBelowConfig;
  const b = f.competitor;
  const p = f.professional;
  const pb = f.professionalBefore;
  const lines: string[] = [
    "",
    `Rate limits as Auth0 enforces them: each run a first sync of ${fmt(f.rows, 0)} new users with their 1-2 roles into an empty tenant (fresh warehouse and ledger), ${latency}. Calls are the sync's Management API requests in the emulator's log (tokens left out; the competitor's requests are not in it); admitted = not answered 429; span = first call to last; time = the sync's wall time.`,
    "",
    "| scenario | sync configured for | tenant | consumers | calls | 429s | 429 share | calls/new user | time (s) | measured | target | |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
  ];
  const row = (r: RateRun, measured: string, target: string, met: string) =>
    `| ${r.name} | ${r.configured} | ${r.tenant} | ${r.consumerInstances} | ${fmt(r.calls, 0)} | ${fmt(r.status429, 0)} | ${pct(r.share429, 2)} | ${fmt(r.callsPerNewUser, 3)} | ${fmt(r.syncS)} | ${measured} | ${target} | ${met} |`;
  lines.push(
    row(a, `admitted ${fmt(a.admittedPerS, 2)}/s over ${fmt(a.spanS)} s = ${pct(a.rateShare)} of ${a.tenantRate}/s`, `429 share < 1%, >= 90% of ${a.tenantRate}/s`, metText(a.met)),
    row(
      b,
      `while the competitor ran (${fmt(b.windowS)} s): sync admitted ${fmt(b.syncAdmittedPerS, 2)}/s = ${pct(b.shareOfLeft)} of the ${b.left}/s left`,
      `429 share < 1%, >= 85% of ${b.left}/s`,
      metText(b.met),
    ),
  );
  if (matched) {
    lines.push(
      `| (c) first sync at the matched budget (${matched.source}) | global ${matched.rate}/s (burst ${matched.rate}) | the same | ${matched.consumerInstances} | ${fmt(matched.calls, 0)} | ${fmt(matched.status429, 0)} | ${pct(matched.share429, 2)} | ${fmt(matched.callsPerNewUser, 3)} | ${fmt(matched.syncS)} | utilisation ${pct(matched.utilisation)} | utilisation >= 99% | ${metText(matched.met)} |`,
    );
  }
  const planRow = (r: PlanFigures, target: string, met: string) =>
    row(r, `${fmt(r.summary.created, 0)} new users: ideal ${fmt(r.idealS)} s (at writeUsers' ${fmt(r.writeRate, 2)}/s), ideal/actual ${pct(r.idealOverActual)}`, target, met);
  lines.push(planRow(p, "429 share < 1%, calls/new user <= 1.05", metText(p.met)));
  if (pb) lines.push(planRow(pb, "(before this work: 33% 429s)", "-"));
  lines.push(
    "",
    `(b) the competitor until the sync's last outcome: tried ${fmt(b.competitorStats.attempted, 0)}, admitted ${fmt(b.competitorStats.admitted, 0)} (${fmt(b.competitorAdmittedPerS, 2)}/s), refused ${fmt(b.competitorStats.refused, 0)}.`,
    "",
    "Per bucket (Professional): admitted calls over the run's span, over the bucket's rate:",
    "",
    "| run | bucket | rate (/s) | burst | calls | 429s | admitted | utilisation |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const r of [p, pb]) {
    if (!r) continue;
    for (const k of r.byBucket) {
      lines.push(`| ${r === p ? "Professional" : "before"} | ${k.bucket} | ${fmt(k.requestsPerSecond, 2)} | ${k.burst} | ${fmt(k.calls, 0)} | ${fmt(k.status429, 0)} | ${fmt(k.admitted, 0)} | ${pct(k.utilisation)} |`);
    }
  }
  const routes = (r: RateRun) => Object.entries(r.byRoute).map(([route, n]) => `${route} x${n}`).join(", ");
  lines.push("", `Calls by route: ${[a, b, p, ...(pb ? [pb] : [])].map((r) => `${r.name.replace(/:.*$/, "")}: ${routes(r)}`).join("; ")}.`);
  return lines;
}
