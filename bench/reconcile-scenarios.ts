/**
 * The reconcile's bench scenarios (issue 14), run by bench/bench.ts:
 *
 * - `snapshotMemory(n)`: an emulated tenant of n users (in the parent) is exported and read through
 *   `Auth0Snapshot` in a child process (bench/snapshot-child.ts) that only counts the users; the child's peak
 *   heapUsed and RSS, sampled every 20 ms, should not grow with n.
 * - `onboarding(...)`: a tenant that already holds the demo's users meets an empty ledger. A plain sync there
 *   (create -> 409 -> lookup -> ...) against a reconcile that adopts the users from the export, then the syncs
 *   after it.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SyncConfig } from "../functions/core/config.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_CONNECTION, type RequestLogEntry, type TenantState, type TenantUser } from "../local/auth0-emulator.js";
import { runLocalPipeline, runLocalReconcile, type LocalRunSummary, type Progress } from "../local/pipeline.js";
import { seededRandom } from "../local/random.js";
import { perUserCreates } from "./create-path.js";

// Scenario: snapshot reader memory.

export interface SnapshotMemoryFigures {
  users: number;
  /** The child's old generation was capped at this many MB (absent: V8's default). */
  oldSpaceCapMb?: number;
  /** Average bytes of one user's user_metadata + app_metadata as JSON. */
  metadataBytesPerUser: number;
  /** Bytes of one user's NDJSON line, on average (uncompressed, as the emulator would write it). */
  lineBytesPerUser: number;
  /** The gzip file's size (content-length of the download). */
  fileMb: number;
  /** From the job's creation to its completion, seen by the reader (polls with backoff). */
  waitS: number;
  /** Download, gunzip, parse and count. */
  streamS: number;
  usersPerS: number;
  beforeHeapMb: number;
  beforeRssMb: number;
  peakHeapUsedMb: number;
  peakRssMb: number;
  /** heapUsed after the read and a full collection: what the reader retains. */
  afterGcHeapMb: number;
  samples: number;
  /** Management API calls of the reader (connection, job, polls). */
  calls: number;
}

const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia", "Linus", "Shafi", "Tim", "Niklaus"];
const LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie", "Perlman", "Torvalds", "Goldwasser", "Berners-Lee", "Wirth"];
const CITIES = ["Lisbon", "Oslo", "Toronto", "Nairobi", "Osaka", "Austin", "Dublin", "Santiago", "Melbourne", "Krakow"];

/** n users as the emulator's state holds them: every profile field, metadata of a few hundred bytes, some blocked. */
export function tenantUsers(n: number, seed = 7): TenantUser[] {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  const hex = (len: number) => Array.from({ length: len }, () => Math.floor(r() * 16).toString(16)).join("");
  const users: TenantUser[] = [];
  for (let i = 1; i <= n; i++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const key = `c-${String(i).padStart(8, "0")}`;
    const email = `${first}.${last}.${i}@example.com`.toLowerCase().replace(/[^a-z0-9.@-]/g, "");
    const day = 1 + (i % 28);
    users.push({
      user_id: `auth0|${hex(24)}`,
      connection: DEFAULT_CONNECTION,
      email,
      email_verified: r() < 0.8,
      given_name: first,
      family_name: last,
      name: `${first} ${last}`,
      nickname: email.split("@")[0]!,
      picture: `https://avatars.example.com/${key}.png`,
      phone_number: `+1${String(2000000000 + Math.floor(r() * 7999999999))}`,
      ...(r() < 0.02 ? { blocked: true } : {}),
      user_metadata: {
        plan: pick(["free", "pro", "team", "enterprise"]),
        preferences: { theme: pick(["light", "dark"]), newsletter: r() < 0.5, language: pick(["en", "fr", "de", "es", "pt"]), timezone: pick(["Europe/Lisbon", "America/Toronto", "Asia/Tokyo"]) },
        notifications: { email: r() < 0.7, sms: r() < 0.2, push: r() < 0.5, digest: pick(["daily", "weekly", "never"]) },
        company: `${last} & ${pick(LAST)} Ltd`,
        job_title: pick(["Engineer", "Analyst", "Account Manager", "Designer", "Director of Operations"]),
        address: { street: `${1 + Math.floor(r() * 999)} ${pick(LAST)} Street`, city: pick(CITIES), postal_code: String(10000 + Math.floor(r() * 89999)), country: pick(["PT", "NO", "CA", "KE", "JP", "US", "IE"]) },
        signup_source: pick(["web", "ios", "android", "partner"]),
        referral_code: hex(10),
      },
      app_metadata: { sync_key: key, tier: pick(["bronze", "silver", "gold"]), customer_since: `20${10 + (i % 15)}-0${1 + (i % 9)}-${String(day).padStart(2, "0")}`, account_id: `acct_${hex(16)}` },
      created_at: "2025-06-01T00:00:00.000Z",
      updated_at: "2026-01-01T00:00:00.000Z",
      hasPassword: true,
      roles: [],
    });
  }
  return users;
}

/**
 * Reads an export of n users in a child process. `oldSpaceCapMb` runs the child with V8's old generation capped
 * (--max-old-space-size): a reader that kept what it read would fail there; one that streams only collects sooner.
 */
export async function snapshotMemory(n: number, oldSpaceCapMb?: number): Promise<SnapshotMemoryFigures> {
  const users = tenantUsers(n);
  const sampleUsers = users.slice(0, 1000);
  const metadataBytesPerUser = sampleUsers.reduce((s, u) => s + JSON.stringify(u.user_metadata).length + JSON.stringify(u.app_metadata).length, 0) / sampleUsers.length;
  const lineBytesPerUser =
    sampleUsers.reduce((s, u) => {
      const { connection: _c, hasPassword: _p, roles: _r, created_at: _ca, updated_at: _ua, ...exported } = u;
      return s + Buffer.byteLength(`${JSON.stringify(exported)}\n`);
    }, 0) / sampleUsers.length;
  const emulator = new Auth0Emulator({ rate: 1000, burst: 1000, connections: [{ name: DEFAULT_CONNECTION, strategy: "auth0" }], exportJobDurationMs: 300 });
  emulator.load({ users, roles: [], tickets: [], verificationEmails: [] });
  users.length = 0;
  const baseUrl = await emulator.start();
  try {
    const flags = oldSpaceCapMb === undefined ? [] : [`--max-old-space-size=${oldSpaceCapMb}`];
    const child = spawn(process.execPath, ["--expose-gc", ...flags, "--import", "tsx", new URL("./snapshot-child.ts", import.meta.url).pathname], {
      env: {
        ...process.env,
        NODE_OPTIONS: "",
        BENCH_AUTH0_DOMAIN: emulator.domain,
        BENCH_AUTH0_BASE_URL: baseUrl,
        BENCH_AUTH0_CLIENT_ID: DEFAULT_CLIENT_ID,
        BENCH_AUTH0_CLIENT_SECRET: DEFAULT_CLIENT_SECRET,
        BENCH_CONNECTION: DEFAULT_CONNECTION,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let text = "";
    child.stdout.on("data", (c: Buffer) => (text += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    if (code !== 0) throw new Error(`the snapshot child exited with ${code}`);
    const r = JSON.parse(text.trim().split("\n").pop()!) as {
      users: number;
      fileBytes: number;
      waitMs: number;
      streamMs: number;
      samples: number;
      beforeRssBytes: number;
      beforeHeapUsedBytes: number;
      peakRssBytes: number;
      peakHeapUsedBytes: number;
      afterGcHeapUsedBytes: number;
      calls: number;
    };
    if (r.users !== n) throw new Error(`the snapshot read ${r.users} users of ${n}`);
    const mb = (b: number) => b / 2 ** 20;
    return {
      users: n,
      ...(oldSpaceCapMb === undefined ? {} : { oldSpaceCapMb }),
      metadataBytesPerUser,
      lineBytesPerUser,
      fileMb: mb(r.fileBytes),
      waitS: r.waitMs / 1000,
      streamS: r.streamMs / 1000,
      usersPerS: r.users / Math.max(0.001, r.streamMs / 1000),
      beforeHeapMb: mb(r.beforeHeapUsedBytes),
      beforeRssMb: mb(r.beforeRssBytes),
      peakHeapUsedMb: mb(r.peakHeapUsedBytes),
      peakRssMb: mb(r.peakRssBytes),
      afterGcHeapMb: mb(r.afterGcHeapUsedBytes),
      samples: r.samples,
      calls: r.calls,
    };
  } finally {
    await emulator.stop();
  }
}

// Scenario: onboarding an existing tenant.

export interface OnboardingStep {
  step: string;
  /** Management API requests the emulator answered (its request log, tokens left out). */
  calls: number;
  /** The same by "METHOD route status". */
  byRoute: Record<string, number>;
  status429: number;
  wallS: number;
}

/** (b) the reconcile, (c) the next sync, (d) the one after, on a copy of the tenant with no ledger. */
export interface OnboardingAfter {
  /** The request budget of the sync and the emulated tenant (undefined: the config's own, as deployed). */
  rate?: number;
  /** Consumer instances at that budget (each resolves roles and organizations once for itself). */
  consumerInstances: number;
  reconcile: OnboardingStep & { usersInTenant: number; managed: number; adopted: number; ambiguous: number; unclaimed: number; drifted: number; repairsQueued: number; snapshotCalls: number; invocations: number };
  nextSync: OnboardingStep & { summary: Pick<LocalRunSummary, "created" | "updated" | "unchanged" | "rejected" | "unaccounted"> };
  syncAfter: OnboardingStep & { summary: Pick<LocalRunSummary, "created" | "updated" | "unchanged" | "rejected" | "unaccounted"> };
  reconcileAndNextSync: number;
  /** The same without the differing users' PATCHes (one each, in (c)). */
  withoutPatches: number;
}

export interface OnboardingFigures extends OnboardingAfter {
  rows: number;
  /** Users the first sync created (the tenant that is onboarded). */
  usersInTenant: number;
  /** Users edited in the tenant before the reconcile, so that they really differ from the warehouse. */
  differing: number;
  /** Organization sync on (config `organizations`). */
  organizations: boolean;
  /** (a) a plain sync on the tenant with an empty ledger; (b)-(d) at the bench's rate (this object's own fields). */
  plainSync: OnboardingStep & { summary: Pick<LocalRunSummary, "created" | "updated" | "unchanged" | "rejected" | "unaccounted"> };
  /** (b)-(d) again at the config's own budget (fewer consumer instances, so fewer per-instance lookups). */
  atConfigBudget?: OnboardingAfter;
  /** The target of issue 14: (b) + (c) <= 1% of (a) + one call per differing user. */
  target: number;
  met: boolean;
  /** The bar of issue 24: (b) + (c) <= 64 calls. */
  bar: number;
}

const managementCalls = (log: readonly RequestLogEntry[]) => log.filter((e) => e.route !== "/oauth/token");

function step(name: string, log: readonly RequestLogEntry[], wallMs: number): OnboardingStep {
  const calls = managementCalls(log);
  const byRoute: Record<string, number> = {};
  for (const e of calls) {
    const k = `${e.method} ${e.route} ${e.status}`;
    byRoute[k] = (byRoute[k] ?? 0) + 1;
  }
  return { step: name, calls: calls.length, byRoute, status429: calls.filter((e) => e.status === 429).length, wallS: wallMs / 1000 };
}

const tenantFile = (dir: string) => join(dir, "tenant.json");
const readTenant = (dir: string) => JSON.parse(readFileSync(tenantFile(dir), "utf8")) as TenantState;

export interface OnboardingOptions {
  config: SyncConfig;
  /** Rows seeded into the demo warehouse (as `npm start -- --rows`; 2,000 gives the demo's 1,923 users). */
  rows: number;
  rate: number;
  root: string;
  /** Every `differEvery`-th user (by sync key) gets another given_name in the tenant before the reconcile. */
  differEvery?: number;
  /** Also run (b)-(d) at the config's own budget (as deployed), on another copy of the tenant. */
  atConfigBudget?: boolean;
  onProgress?: (label: string) => (p: Progress) => void;
  log?: (line: string) => void;
}

const PATCH_USER = "PATCH /api/v2/users/:id 200";

export async function onboarding(o: OnboardingOptions): Promise<OnboardingFigures> {
  const { rows, rate } = o;
  // `create.bulk: off`: the plain sync (a) is the per-user path meeting users the tenant already holds (create ->
  // 409 -> lookup -> patch), the cost the reconcile is measured against; with the default `auto`, the demo's 1,923
  // new users (over create.bulkMinUsers) would go through import jobs (issue 27), and so would the first sync (A).
  const config = perUserCreates(o.config);
  const say = o.log ?? (() => undefined);
  const progress = o.onProgress ?? (() => undefined);
  const dirA = join(o.root, "onboard-a");
  const dirB = join(o.root, "onboard-b");
  const dirC = join(o.root, "onboard-c");
  const dirD = join(o.root, "onboard-d");
  const pick = (s: LocalRunSummary) => ({ created: s.created, updated: s.updated, unchanged: s.unchanged, rejected: s.rejected, unaccounted: s.unaccounted });

  /** A sync in `dir`, its Management API calls counted from the emulator's log (`rate` undefined: the config's budget). */
  const sync = async (name: string, dir: string, seed: boolean, at: number | undefined) => {
    let emulator: Auth0Emulator | undefined;
    const started = Date.now();
    const summary = await runLocalPipeline({
      config,
      stateDir: dir,
      ...(at === undefined ? {} : { rate: at }),
      ...(seed ? { seedRows: rows } : {}),
      onEnvironment: (env) => void (emulator = env.emulator),
      onProgress: progress(name),
    });
    const s = { ...step(name, emulator?.requestLog ?? [], Date.now() - started), summary: pick(summary), consumerInstances: summary.consumerInstances };
    say(`${name}: ${JSON.stringify({ ...s.summary, calls: s.calls })}`);
    return s;
  };

  // A: the users created by a fresh sync of the demo warehouse.
  const first = await sync("onboarding: first sync (state A)", dirA, true, rate);
  const usersInTenant = first.summary.created;

  // B: A's tenant and nothing else (no ledger); a share of its users edited so they really differ.
  mkdirSync(dirB, { recursive: true });
  const tenant = readTenant(dirA);
  const every = o.differEvery ?? 100;
  const keyOf = (u: TenantUser) => (typeof u.app_metadata.sync_key === "string" ? u.app_metadata.sync_key : "");
  const byKey = [...tenant.users].sort((x, y) => keyOf(x).localeCompare(keyOf(y)));
  let differing = 0;
  byKey.forEach((u, i) => {
    if ((i + 1) % every !== 0) return;
    u.given_name = `${u.given_name ?? ""}x`;
    differing++;
  });
  writeFileSync(tenantFile(dirB), JSON.stringify(tenant));
  // C: the same tenant, for the plain sync to spend its calls on while B stays untouched; D for (b)-(d) again.
  for (const dir of [dirC, dirD]) {
    mkdirSync(dir, { recursive: true });
    cpSync(tenantFile(dirB), tenantFile(dir));
  }

  const plainSync = await sync("onboarding (a): plain sync, empty ledger (state C)", dirC, true, rate);

  /** (b) the reconcile, (c) the next sync, (d) the one after, in `dir`. */
  const after = async (dir: string, label: string, at: number | undefined): Promise<OnboardingAfter> => {
    let emulator: Auth0Emulator | undefined;
    const started = Date.now();
    const r = await runLocalReconcile({ config, stateDir: dir, ...(at === undefined ? {} : { rate: at }), seedRows: rows, onEnvironment: (env) => void (emulator = env.emulator) });
    const reconcile = {
      ...step(`onboarding (b): reconcile (${label})`, emulator?.requestLog ?? [], Date.now() - started),
      usersInTenant: r.usersInTenant,
      managed: r.managed,
      adopted: r.adopted,
      ambiguous: r.ambiguous,
      unclaimed: r.unclaimed,
      drifted: r.drifted,
      repairsQueued: r.repairsQueued,
      snapshotCalls: r.auth0Calls,
      invocations: r.invocations,
    };
    say(`onboarding (b): reconcile (${label}): ${JSON.stringify({ usersInTenant: r.usersInTenant, adopted: r.adopted, ambiguous: r.ambiguous, unclaimed: r.unclaimed, repairsQueued: r.repairsQueued, calls: reconcile.calls })}`);
    const { consumerInstances, ...nextSync } = await sync(`onboarding (c): next sync (${label})`, dir, false, at);
    const { consumerInstances: _i, ...syncAfter } = await sync(`onboarding (d): the sync after (${label})`, dir, false, at);
    const reconcileAndNextSync = reconcile.calls + nextSync.calls;
    return { rate: at, consumerInstances, reconcile, nextSync, syncAfter, reconcileAndNextSync, withoutPatches: reconcileAndNextSync - (nextSync.byRoute[PATCH_USER] ?? 0) };
  };
  const atRate = await after(dirB, "state B", rate);
  const atConfigBudget = o.atConfigBudget ? await after(dirD, "state D, the config's budget", undefined) : undefined;
  const target = plainSync.calls * 0.01 + differing;
  return { rows, usersInTenant, differing, organizations: config.organizations !== undefined, plainSync, ...atRate, atConfigBudget, target, met: atRate.reconcileAndNextSync <= target, bar: 64 };
}
