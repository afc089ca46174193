/**
 * First loads through Auth0 import jobs (issue 27), `npm run bench -- --only import` (and in the whole run): a first
 * load of `rows` (20,000) new demo users WITH their 1-2 roles into an empty tenant, through `runLocalPipeline` (the
 * real extractor, consumers and importer, local SQS, dynalite, the Auth0 emulator with Auth0's buckets and import
 * jobs), side by side on the same emulator settings and budget:
 *
 * - (a) Enterprise: the tenant and the config one global bucket of 16/s (burst 50);
 * - (b) Professional: `auth0.plan: professional`, the emulated tenant on the same plan (a bucket per endpoint group:
 *   user writes 200/min, "other" 150/min);
 *
 * each by the per-user path (`create.bulk: off`: one POST /users a user, roles grouped by invocation) and by the
 * import path (`create.bulk: auto`: over `create.bulkMinUsers`, files of <= 400 KB to import jobs, at most two at
 * once, then each imported user's roles grouped across the file). Each first load is followed by a second run of
 * the same table (same warehouse, tenant and ledger), which must make no Auth0 call.
 *
 * The rows are the demo's (1-2 roles each) with no phone number: Auth0's import schema has no `phone_number`, so a
 * new user with one is created the per-user way whatever `create.bulk` says (docs/imports.md), and 70% of the demo's
 * rows have one. The comparison is the two paths on the same users, all of them importable. Then (`mixedRows`, at
 * Enterprise) the import path once more on the demo rows as they are, phones included: what a table whose users
 * mostly have a phone gets from imports.
 *
 * The per-user path is bound by the bucket its creates spend (16/s; Professional's writeUsers 3.33/s): 20,000 users
 * take about 21 min and 100 min, too long here. It is measured on a smaller first load (`perUserRows`) and
 * extrapolated linearly: its steady users/s (its POST /users from the 10th to the 90th percentile, past the burst)
 * carries the remaining users, the measured run's fixed costs counted once; its calls are scaled by users. The import
 * path runs the whole `rows`. Its speed is the emulator's import speed (`usersPerSecond` a job, Auth0's figure of
 * about 400,000 users an hour), which the figures are printed next to.
 *
 * Calls are the Management API requests in the emulator's log (/oauth/token left out). Duplicates: users in the
 * tenant sharing an email (must be 0). Roles: rows whose user is missing from the tenant or whose roles differ from
 * the row's.
 */
import { join } from "node:path";
import type { SyncConfig } from "../functions/core/config.js";
import { consumerBudget } from "../functions/core/budget.js";
import { resolveRateLimits, type RateLimitSettings } from "../functions/core/rate-limits.js";
import { MAX_ACTIVE_IMPORT_JOBS } from "../functions/core/import-batches.js";
import { IMPORT_POLL_MS } from "../functions/flows/import-run.js";
import type { ImportStats } from "../local/auth0-emulator-imports.js";
import type { RequestLogEntry, TenantState } from "../local/auth0-emulator.js";
import { runLocalPipeline, type LocalEnvironment, type LocalRunSummary, type Progress } from "../local/pipeline.js";
import { withBulk } from "./create-path.js";
import { withLimits } from "./rate-scenarios.js";
import { cleanRows, writeWarehouse } from "./warehouse.js";
import type { DemoRow } from "../local/demo-data.js";

export const IMPORT_TARGETS = { speedupEnterprise: 5, speedupProfessional: 20, callsPerNewUser: 0.05 };

export type PlanName = "enterprise" | "professional";
export type CreatePath = "per-user" | "import";

export interface TenantCheck {
  users: number;
  distinctEmails: number;
  /** Users beyond the first of each email (must be 0). */
  duplicates: number;
  /** Rows with no user of their email in the tenant. */
  missing: number;
  /** Rows whose user's roles are not the row's. */
  rolesWrong: number;
}

export interface RunFigures {
  summary: Pick<LocalRunSummary, "rowsRead" | "created" | "updated" | "unchanged" | "rejected" | "deadLettered" | "unaccounted" | "importJobs" | "importedUsers">;
  /** The sync's wall time (extractor start to last outcome), seconds. */
  syncS: number;
  calls: number;
  status429: number;
  byRoute: Record<string, number>;
  byBucket: Record<string, { calls: number; status429: number }>;
  importStats: ImportStats;
}

export interface PathFigures {
  plan: PlanName;
  path: CreatePath;
  /** The demo rows as they are (phones included), rather than without phones. */
  withPhones: boolean;
  /** Rows with a phone number (created the per-user way even on the import path). */
  rowsWithPhone: number;
  configured: string;
  consumerInstances: number;
  /** Rows of the first load measured (new users). */
  rows: number;
  first: RunFigures;
  /** New users per second of the whole first load (created over the sync's wall time). */
  usersPerS: number;
  /** POST /users a second from the 10th to the 90th percentile of the first load's creates (past the burst, before the tail). */
  steadyUsersPerS: number;
  callsPerNewUser: number;
  tenant: TenantCheck;
  second: RunFigures;
  /**
   * At `rows` of the comparison: measured when the path ran them, else extrapolated (the measured wall time plus the
   * remaining users at the steady users/s; calls and 429s scaled by users).
   */
  at: { rows: number; extrapolated: boolean; syncS: number; calls: number; status429: number };
}

export interface PlanComparison {
  plan: PlanName;
  perUser: PathFigures;
  imports: PathFigures;
  /** Per-user wall time at `rows` (extrapolated) over the import path's. */
  speedup: number;
  speedupTarget: number;
  speedupMet: boolean;
  callsPerNewUserMet: boolean;
  /** Completion emails 0, duplicates 0, unaccounted 0, second run 0 calls, every row's user with its roles. */
  correct: boolean;
  /** The import path on the demo rows as they are (phones included), and the per-user time at its rows. */
  mixed?: PathFigures & { perUserS: number; speedup: number; correct: boolean };
}

export interface ImportScenariosFigures {
  rows: number;
  perUserRows: Record<PlanName, number>;
  mixedRows: number;
  usersPerSecond: number;
  maxActiveJobs: number;
  latencyMs: number;
  jitterMs: number;
  enterprise?: PlanComparison;
  professional?: PlanComparison;
}

export interface ImportScenarioOptions {
  /** The bench's config (roles, SQL, queue); each run sets its own limits and `create.bulk`. */
  config: SyncConfig;
  /** New users of the comparison, run whole by the import path (default 20,000). */
  rows: number;
  /** New users the per-user path is measured on, per plan. */
  perUserRows: Record<PlanName, number>;
  /** Rows of the import path on the demo rows as they are, at Enterprise (0: not run). */
  mixedRows: number;
  /** The emulator's import speed: users a job processes a second (Auth0's figure: 111). */
  usersPerSecond: number;
  latencyMs: number;
  jitterMs: number;
  root: string;
  plans?: PlanName[];
  onProgress?: (label: string) => (p: Progress) => void;
  log?: (line: string) => void;
}

const PLAN_LIMITS: Record<PlanName, RateLimitSettings> = {
  enterprise: { rateLimit: { requestsPerSecond: 16, burst: 50 } },
  professional: { plan: "professional" },
};

const fmt = (v: number, d = 1) => v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

/** The sync's Management API calls, by arrival. */
const productCalls = (log: readonly RequestLogEntry[]) => log.filter((e) => e.route !== "/oauth/token").sort((x, y) => x.t - y.t);

function tenantCheck(state: TenantState, rows: DemoRow[]): TenantCheck {
  const byEmail = new Map<string, string[][]>();
  for (const u of state.users) {
    const email = (u.email ?? "").toLowerCase();
    const list = byEmail.get(email) ?? [];
    list.push([...u.roles].sort());
    byEmail.set(email, list);
  }
  let missing = 0;
  let rolesWrong = 0;
  for (const r of rows) {
    const found = byEmail.get((r.email ?? "").toLowerCase());
    if (!found) {
      missing++;
      continue;
    }
    const want = [...new Set((r.roles ?? "").split(",").map((x) => x.trim()).filter((x) => x !== ""))].sort();
    if (!found.some((roles) => roles.join(",") === want.join(","))) rolesWrong++;
  }
  return { users: state.users.length, distinctEmails: byEmail.size, duplicates: state.users.length - byEmail.size, missing, rolesWrong };
}

interface Observed {
  figures: RunFigures;
  /** Arrival of each POST /users answered 201. */
  createTimes: number[];
  state: TenantState;
}

async function runOnce(o: ImportScenarioOptions, name: string, stateDir: string, config: SyncConfig): Promise<Observed> {
  let env: LocalEnvironment | undefined;
  const summary = await runLocalPipeline({
    config,
    stateDir,
    latencyMs: o.latencyMs,
    jitterMs: o.jitterMs,
    // A deployed importer's poll interval, so the polls counted are those it would make.
    importerPollMs: IMPORT_POLL_MS,
    onEnvironment: (e) => {
      env = e;
      // The same import speed for both paths (the per-user path submits no job): the assumption printed.
      e.emulator?.setImportJobSettings({ usersPerSecond: o.usersPerSecond });
    },
    onProgress: o.onProgress?.(name),
  });
  const emulator = env?.emulator;
  if (!emulator) throw new Error(`${name}: no emulator`);
  const calls = productCalls(emulator.requestLog);
  const byRoute: Record<string, number> = {};
  const byBucket: Record<string, { calls: number; status429: number }> = {};
  for (const e of calls) {
    const k = `${e.method} ${e.route.replace("/api/v2", "")} ${e.status}`;
    byRoute[k] = (byRoute[k] ?? 0) + 1;
    const b = (byBucket[e.bucket] ??= { calls: 0, status429: 0 });
    b.calls++;
    if (e.status === 429) b.status429++;
  }
  const { rowsRead, created, updated, unchanged, rejected, deadLettered, unaccounted, importJobs, importedUsers } = summary;
  const figures: RunFigures = {
    summary: { rowsRead, created, updated, unchanged, rejected, deadLettered, unaccounted, importJobs, importedUsers },
    syncS: summary.syncMs / 1000,
    calls: calls.length,
    status429: calls.filter((e) => e.status === 429).length,
    byRoute,
    byBucket,
    importStats: emulator.importStats(),
  };
  o.log?.(`${name}: ${JSON.stringify({ ...figures.summary, calls: figures.calls, status429: figures.status429, syncS: figures.syncS, importStats: figures.importStats })}`);
  const createTimes = calls.filter((e) => e.method === "POST" && e.route === "/api/v2/users" && e.status === 201).map((e) => e.t);
  return { figures, createTimes, state: emulator.state() };
}

/** Events a second between the 10th and the 90th percentile of their times. */
function steadyRate(times: number[]): number {
  if (times.length < 10) return 0;
  const t = [...times].sort((x, y) => x - y);
  const lo = Math.floor(t.length * 0.1);
  const hi = Math.floor(t.length * 0.9);
  const s = (t[hi]! - t[lo]!) / 1000;
  return s > 0 ? (hi - lo) / s : 0;
}

/** The demo's clean rows; without phones unless asked (a user with a phone cannot be imported). */
function demoRows(rows: number, withPhones: boolean): DemoRow[] {
  const data = cleanRows(rows);
  return withPhones ? data : data.map((r) => ({ ...r, phone: null }));
}

async function firstLoad(o: ImportScenarioOptions, plan: PlanName, path: CreatePath, rows: number, withPhones = false): Promise<PathFigures> {
  const config = withBulk(withLimits(o.config, PLAN_LIMITS[plan]), path === "import" ? "auto" : "off");
  const stateDir = join(o.root, `import-${plan}-${path}${withPhones ? "-phones" : ""}`);
  const data = demoRows(rows, withPhones);
  await writeWarehouse(stateDir, data);
  const label = `import scenarios, ${plan}, ${path}${withPhones ? ", demo rows with their phones" : ""}`;
  const first = await runOnce(o, `${label}: first load of ${rows} users`, stateDir, config);
  const tenant = tenantCheck(first.state, data);
  o.log?.(`${label}: tenant ${JSON.stringify(tenant)}`);
  const second = await runOnce(o, `${label}: second run, same table`, stateDir, config);
  const f = first.figures;
  const created = f.summary.created;
  const steady = steadyRate(first.createTimes);
  const usersPerS = f.syncS > 0 ? created / f.syncS : 0;
  const extrapolated = rows !== o.rows;
  const scale = o.rows / rows;
  const at = extrapolated
    ? { rows: o.rows, extrapolated, syncS: f.syncS + (o.rows - rows) / (steady > 0 ? steady : usersPerS), calls: Math.round(f.calls * scale), status429: Math.round(f.status429 * scale) }
    : { rows, extrapolated, syncS: f.syncS, calls: f.calls, status429: f.status429 };
  return {
    plan,
    path,
    withPhones,
    rowsWithPhone: data.filter((r) => r.phone !== null).length,
    configured: `${plan === "enterprise" ? "global 16/s (burst 50)" : "plan professional"}, create.bulk ${config.create.bulk}`,
    consumerInstances: consumerBudget(config).maxConcurrency,
    rows,
    first: f,
    usersPerS,
    steadyUsersPerS: steady,
    callsPerNewUser: created > 0 ? f.calls / created : 0,
    tenant,
    second: second.figures,
    at,
  };
}

async function comparePlan(o: ImportScenarioOptions, plan: PlanName): Promise<PlanComparison> {
  const perUser = await firstLoad(o, plan, "per-user", Math.min(o.perUserRows[plan], o.rows));
  const imports = await firstLoad(o, plan, "import", o.rows);
  const speedup = imports.at.syncS > 0 ? perUser.at.syncS / imports.at.syncS : 0;
  const speedupTarget = plan === "enterprise" ? IMPORT_TARGETS.speedupEnterprise : IMPORT_TARGETS.speedupProfessional;
  const clean = (p: PathFigures): boolean =>
    p.first.importStats.completionEmails === 0 &&
    p.tenant.duplicates === 0 &&
    p.tenant.missing === 0 &&
    p.tenant.rolesWrong === 0 &&
    p.first.summary.unaccounted === 0 &&
    p.first.summary.created === p.rows &&
    p.second.calls === 0 &&
    p.second.summary.unaccounted === 0;
  let mixed: PlanComparison["mixed"];
  if (plan === "enterprise" && o.mixedRows > 0) {
    const m = await firstLoad(o, plan, "import", o.mixedRows, true);
    // The per-user path's time at these rows, from its measured run (the same extrapolation).
    const u = perUser;
    const perUserS = u.first.syncS + (o.mixedRows - u.rows) / (u.steadyUsersPerS > 0 ? u.steadyUsersPerS : u.usersPerS);
    // Measured at its own rows, not carried to `rows` (what it shows depends on the table's share of phones).
    const at = { rows: m.rows, extrapolated: false, syncS: m.first.syncS, calls: m.first.calls, status429: m.first.status429 };
    mixed = { ...m, at, perUserS, speedup: m.first.syncS > 0 ? perUserS / m.first.syncS : 0, correct: clean(m) };
  }
  return {
    plan,
    perUser,
    imports,
    mixed,
    speedup,
    speedupTarget,
    speedupMet: speedup >= speedupTarget,
    callsPerNewUserMet: imports.callsPerNewUser <= IMPORT_TARGETS.callsPerNewUser,
    correct: clean(perUser) && clean(imports),
  };
}

export async function importScenarios(o: ImportScenarioOptions): Promise<ImportScenariosFigures> {
  const out: ImportScenariosFigures = {
    rows: o.rows,
    perUserRows: o.perUserRows,
    mixedRows: o.mixedRows,
    usersPerSecond: o.usersPerSecond,
    maxActiveJobs: MAX_ACTIVE_IMPORT_JOBS,
    latencyMs: o.latencyMs,
    jitterMs: o.jitterMs,
  };
  for (const plan of o.plans ?? (["enterprise", "professional"] as PlanName[])) out[plan] = await comparePlan(o, plan);
  return out;
}

const metText = (met: boolean) => (met ? "met" : "NOT met");
/** An import speed as given (55.5 stays 55.5). */
const ups = (v: number) => fmt(v, Number.isInteger(v) ? 0 : 1);

/** The import scenarios as Markdown. */
export function importScenarioLines(f: ImportScenariosFigures): string[] {
  const n = (v: number) => fmt(v, 0);
  const plans = [f.enterprise, f.professional].filter((p): p is PlanComparison => p !== undefined);
  const writes = resolveRateLimits({ plan: "professional" }).buckets.writeUsers!.requestsPerSecond;
  const lines: string[] = [
    "",
    `First loads through import jobs (issue 27): ${n(f.rows)} new demo users with their 1-2 roles and no phone number into an empty tenant (fresh warehouse, tenant and ledger), ${fmt(f.latencyMs, 0)} ms + up to ${fmt(f.jitterMs, 0)} ms latency, per plan the per-user path (create.bulk off) and the import path (create.bulk auto) on the same emulator settings and budget.`,
    `- Import speed ASSUMED, not measured: the emulator's import job processes ${ups(f.usersPerSecond)} users/s (Auth0's figure, about 400,000 an hour), each of at most ${f.maxActiveJobs} jobs at once at that speed; the import path's times follow from it (${n(f.rows)} users: at least ${fmt(f.rows / (f.usersPerSecond * f.maxActiveJobs))} s of job time with ${f.maxActiveJobs} jobs at once, ${fmt(f.rows / f.usersPerSecond)} s with one).`,
    `- The per-user path is MEASURED on a smaller first load (${plans.map((p) => `${n(p.perUser.rows)} users at ${p.plan}`).join(", ")}) and EXTRAPOLATED to ${n(f.rows)}: the measured wall time plus the remaining users at its steady rate (its POST /users from the 10th to the 90th percentile; it is the bucket's: Enterprise's global 16/s, Professional's writeUsers ${fmt(writes, 2)}/s, so linear); calls and 429s scaled by users. The import path runs all ${n(f.rows)}.`,
    `- Calls: Management API requests in the emulator's log (/oauth/token left out). Duplicates: tenant users sharing an email. Roles wrong: rows whose user is missing or whose roles are not the row's. Second run: the same table again, same tenant and ledger.`,
    "",
    `| plan | path | new users (measured) | wall time (s) | users/s (steady) | Auth0 calls | calls/new user | 429s | import jobs | imported users | completion emails | duplicates | roles wrong | unaccounted | second run: calls | at ${n(f.rows)} users: wall time (s) | at ${n(f.rows)}: calls |`,
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const row = (p: PathFigures, label: string, at: string, atCalls: string) => {
    const s = p.first.summary;
    return `| ${p.plan} (${p.configured}) | ${label} | ${n(s.created)} of ${n(p.rows)} | ${fmt(p.first.syncS)} | ${fmt(p.usersPerS)}${p.path === "per-user" ? ` (${fmt(p.steadyUsersPerS)})` : ""} | ${n(p.first.calls)} | ${fmt(p.callsPerNewUser, p.path === "import" ? 4 : 3)} | ${n(p.first.status429)} | ${n(s.importJobs)} | ${n(s.importedUsers)} | ${n(p.first.importStats.completionEmails)} | ${n(p.tenant.duplicates)} | ${n(p.tenant.missing + p.tenant.rolesWrong)} | ${n(s.unaccounted)} | ${n(p.second.calls)} | ${at} | ${atCalls} |`;
  };
  for (const c of plans) {
    const u = c.perUser;
    const i = c.imports;
    lines.push(
      row(u, "per-user", u.at.extrapolated ? `${fmt(u.at.syncS)} (extrapolated from ${n(u.rows)})` : `${fmt(u.at.syncS)} (measured)`, u.at.extrapolated ? `${n(u.at.calls)} (scaled)` : n(u.at.calls)),
      row(i, "import", i.at.extrapolated ? `${fmt(i.at.syncS)} (extrapolated from ${n(i.rows)})` : `${fmt(i.at.syncS)} (measured)`, n(i.at.calls)),
    );
    if (c.mixed) lines.push(row(c.mixed, `import, demo rows as they are (${n(c.mixed.rowsWithPhone)} with a phone)`, "-", "-"));
  }
  lines.push("");
  for (const c of plans) {
    const i = c.imports;
    const u = c.perUser;
    lines.push(
      `- **${c.plan}**: import speedup vs per-user at ${n(f.rows)} users: ${fmt(u.at.syncS)} s (per-user, measured at ${n(u.rows)}, extrapolated) / ${fmt(i.at.syncS)} s (import, measured, at the assumed ${ups(f.usersPerSecond)} users/s a job) = **${fmt(c.speedup)}x** (target >= ${c.speedupTarget}x: ${metText(c.speedupMet)}); import calls per new user **${fmt(i.callsPerNewUser, 4)}** (target <= ${IMPORT_TARGETS.callsPerNewUser}: ${metText(c.callsPerNewUserMet)}); completion emails 0, duplicates 0, every user with its roles, unaccounted 0 and a second run of 0 calls, both paths: ${c.correct ? "yes" : "NO"}.`,
    );
    if (c.mixed) {
      const m = c.mixed;
      lines.push(
        `- **${c.plan}, demo rows as they are** (${n(m.rowsWithPhone)} of ${n(m.rows)} with a phone, which the import schema cannot carry: created per user): ${fmt(m.first.syncS)} s, ${n(m.first.summary.importedUsers)} imported; the per-user path at ${n(m.rows)} users (extrapolated as above) ${fmt(m.perUserS)} s: ${fmt(m.speedup)}x; completion emails, duplicates, roles, unaccounted and second-run calls all 0: ${m.correct ? "yes" : "NO"}.`,
      );
    }
  }
  lines.push("");
  for (const c of plans) {
    for (const p of [c.perUser, c.imports, ...(c.mixed ? [c.mixed] : [])]) {
      const routes = Object.entries(p.first.byRoute).map(([r, k]) => `${r} x${k}`).join(", ");
      const buckets = Object.entries(p.first.byBucket).map(([b, k]) => `${b} ${k.calls}${k.status429 ? ` (${k.status429} 429s)` : ""}`).join(", ");
      const st = p.first.importStats;
      lines.push(
        `- ${c.plan}, ${p.path}${p.withPhones ? " (demo rows as they are)" : ""}: by route ${routes || "none"}; by bucket ${buckets || "none"}; the emulator's import jobs ${st.jobs} (users inserted ${st.usersInserted}, updated ${st.usersUpdated}, failed ${st.usersFailed}); tenant users ${n(p.tenant.users)}, distinct emails ${n(p.tenant.distinctEmails)}; ${p.consumerInstances} consumer instances; second run ${fmt(p.second.syncS)} s, ${n(p.second.summary.unchanged)} unchanged, ${n(p.second.summary.unaccounted)} unaccounted.`,
      );
    }
  }
  return lines;
}
