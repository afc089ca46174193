/**
 * Issue 27 through the local pipeline: new users through Auth0's bulk import jobs (docs/imports.md), against the
 * emulator's import jobs (built from Auth0's documentation: two active jobs, the errors endpoint and its codes, the
 * `auth0|` prefix, completion emails counted). What the tenant holds and which calls were made are read from the
 * emulator; what the ledger holds from the state directory's ledger.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { Pseudonymiser } from "../../functions/core/pseudonymise.js";
import { DEFAULT_CONNECTION, type Auth0Emulator, type RequestLogEntry, type TenantState, type TenantUser } from "../../local/auth0-emulator.js";
import { runLocalPipeline, type LocalRunOptions, type LocalRunSummary } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv, type Row } from "../helpers/demo-csv.js";
import { importCall } from "../helpers/emulator.js";
import { tempDir } from "../helpers/tmp.js";

const tenant = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState;

interface Observed {
  summary: LocalRunSummary;
  log: readonly RequestLogEntry[];
  emulator: Auth0Emulator;
}

/** Runs the pipeline with the emulator's imports at `usersPerSecond`; `prepare` acts on the emulator first. */
async function run(opts: LocalRunOptions, usersPerSecond = 5000, prepare?: (e: Auth0Emulator) => void | Promise<void>): Promise<Observed> {
  let emulator: Auth0Emulator | undefined;
  const summary = await runLocalPipeline({
    rate: 500,
    retryDelaySeconds: 0,
    ...opts,
    onEnvironment: async (env) => {
      emulator = env.emulator;
      emulator!.setImportJobSettings({ usersPerSecond });
      await prepare?.(emulator!);
    },
  });
  return { summary, log: emulator!.requestLog, emulator: emulator! };
}

const count = (log: readonly RequestLogEntry[], method: string, route: string, status?: number) =>
  log.filter((e) => e.method === method && e.route === route && (status === undefined || e.status === status)).length;
const IMPORTS = "/api/v2/jobs/users-imports";
const USERS = "/api/v2/users";
const BY_EMAIL = "/api/v2/users-by-email";
const MEMBERS = "/api/v2/organizations/:id/members";
const MEMBER_ROLES = "/api/v2/organizations/:id/members/:id/roles";

/** Every outcome adds up to the rows read, and none is missing. */
function exact(s: LocalRunSummary): void {
  expect(s.unaccounted).toBe(0);
  expect(s.created + s.updated + s.unchanged + s.rejected + s.deadLettered + s.blocked + s.deleted).toBe(s.rowsRead);
}

/** One user per email, and exactly these emails. */
function onePerEmail(users: TenantUser[], emails: string[]): void {
  expect(users.map((u) => u.email).sort()).toEqual([...emails].sort());
}

/** A row of the demo table with the columns these tests vary. */
interface TableRow {
  n: number;
  roles?: string;
  orgs?: string;
  orgRoles?: string;
  /** The `preferences` column (JSON text). */
  prefs?: string;
}

const HEADER = "customer_id,email,first_name,last_name,phone,avatar_url,plan,tier,preferences,roles,orgs,org_roles,is_blocked,status";
const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
const key = (n: number) => `c-${String(n).padStart(4, "0")}`;
const mail = (n: number) => `user${n}@example.com`;

function writeRows(path: string, rows: TableRow[]): string {
  const line = (r: TableRow) =>
    [key(r.n), mail(r.n), `First${r.n}`, "Last", "", "", "pro", "gold", r.prefs ? q(r.prefs) : "", q(r.roles ?? "viewer"), r.orgs ? q(r.orgs) : "", r.orgRoles ? q(r.orgRoles) : "", "false", "active"].join(",");
  writeFileSync(path, [HEADER, ...rows.map(line)].join("\n"));
  return path;
}

/** A user put into the tenant before the run, as someone else created it (not through the sync). */
function existingUser(n: number, appMetadata: Record<string, string>, given = "Before"): TenantUser {
  const at = new Date(0).toISOString();
  return {
    user_id: `auth0|before${n}`,
    connection: DEFAULT_CONNECTION,
    email: mail(n),
    email_verified: true,
    given_name: given,
    user_metadata: {},
    app_metadata: appMetadata,
    created_at: at,
    updated_at: at,
    hasPassword: true,
    roles: [],
  };
}

describe("new users through import jobs", () => {
  it("a first load of 600 users with roles goes through import jobs: roles applied grouped, the ledger exact, no completion email; the next run makes 0 calls", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows: Row[] = demoRows(600, (i) => (i % 3 === 0 ? "viewer,editor" : "viewer"));
    const csv = writeCsv(join(dir, "users.csv"), rows);
    const config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 500 } });
    const first = await run({ config, stateDir, fresh: true, csv });
    expect(first.summary).toMatchObject({ rowsRead: 600, created: 600, rejected: 0, deadLettered: 0, unaccounted: 0, importedUsers: 600 });
    expect(first.summary.importJobs).toBeGreaterThanOrEqual(1);
    // No user was created one by one; roles went in grouped calls (at most 100 users a call).
    expect(count(first.log, "POST", USERS)).toBe(0);
    expect(count(first.log, "POST", "/api/v2/users/:id/roles")).toBe(0);
    expect(first.emulator.importStats()).toMatchObject({ completionEmails: 0, usersInserted: 600, usersFailed: 0 });
    expect(first.summary.auth0Calls / 600).toBeLessThanOrEqual(0.05);
    const users = tenant(stateDir).users;
    expect(users).toHaveLength(600);
    expect(new Set(users.map((u) => u.email)).size).toBe(600);
    const u1 = users.find((u) => u.email === "user1@example.com")!;
    expect(u1.user_id).toMatch(/^auth0\|[0-9a-f]{24}$/);
    expect(u1.roles).toEqual(["editor", "viewer"]);
    expect(u1.given_name).toBe("First1");
    expect(u1.app_metadata).toMatchObject({ sync_key: "c-0001" });
    expect(users.find((u) => u.email === "user2@example.com")!.roles).toEqual(["viewer"]);

    const second = await run({ config, stateDir, csv });
    expect(second.summary).toMatchObject({ rowsRead: 600, unchanged: 600, created: 0, auth0Calls: 0, importJobs: 0, unaccounted: 0 });
  }, 120_000);

  it("under the threshold the run creates one by one; `off` never imports", async () => {
    const dir = tempDir();
    const csv = writeCsv(join(dir, "users.csv"), demoRows(40));
    const under = await run({ config: exampleConfigWith({ create: { bulkMinUsers: 41 } }), stateDir: join(dir, "a"), fresh: true, csv });
    expect(under.summary).toMatchObject({ created: 40, importJobs: 0, unaccounted: 0 });
    expect(count(under.log, "POST", IMPORTS)).toBe(0);
    const off = await run({ config: exampleConfigWith({ create: { bulk: "off", bulkMinUsers: 1 } }), stateDir: join(dir, "b"), fresh: true, csv });
    expect(off.summary).toMatchObject({ created: 40, importJobs: 0, unaccounted: 0 });
    expect(count(off.log, "POST", IMPORTS)).toBe(0);
  }, 120_000);
  it("memberships: a first load through import jobs joins organizations and gives member roles (joins through the grouped members endpoint, 10 users a call); an unknown organization rejects its row; the next run makes 0 calls", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    // 200 new users: all in acme, every fourth also in globex; every tenth an acme admin, every twentieth also a
    // globex viewer. Row 201 names an organization the tenant does not have.
    const rows: TableRow[] = Array.from({ length: 200 }, (_, i) => {
      const n = i + 1;
      const roles: Record<string, string[]> = {};
      if (n % 10 === 0) roles.acme = ["admin"];
      if (n % 20 === 0) roles.globex = ["viewer"];
      return { n, orgs: n % 4 === 0 ? "acme,globex" : "acme", orgRoles: Object.keys(roles).length > 0 ? JSON.stringify(roles) : undefined };
    });
    const csv = join(dir, "users.csv");
    const config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 100 } });
    const first = await run({ config, stateDir, fresh: true, csv: writeRows(csv, [...rows, { n: 201, orgs: "acme,nowhere-inc" }]) });
    exact(first.summary);
    expect(first.summary).toMatchObject({ rowsRead: 201, created: 200, rejected: 1, deadLettered: 0, importJobs: 1, importedUsers: 200 });
    // The importer's check of the organizations handed row 201 to the per-user path, which refused it before any write.
    expect(first.summary.rejections).toEqual(["row 201, key c-0201: orgs: unknown organization: nowhere-inc (no organization with this name in the tenant)"]);
    expect(first.emulator.importStats()).toMatchObject({ jobs: 1, usersInserted: 200, usersFailed: 0 });
    // Created by the job only; roles and memberships went in grouped calls.
    expect(count(first.log, "POST", USERS)).toBe(0);
    expect(count(first.log, "POST", "/api/v2/users/:id/roles")).toBe(0);
    const users = tenant(stateDir).users;
    onePerEmail(users, rows.map((r) => mail(r.n)));
    const idOf = new Map(users.map((u) => [u.email, u.user_id]));
    const id = (n: number) => idOf.get(mail(n))!;
    const members = (org: string) => first.emulator.organizationMembers(org).sort();
    expect(members("acme")).toEqual(rows.map((r) => id(r.n)).sort());
    expect(members("globex")).toEqual(rows.filter((r) => r.n % 4 === 0).map((r) => id(r.n)).sort());
    expect(members("initech")).toEqual([]);
    for (const r of rows) {
      expect(first.emulator.memberRoles("acme", id(r.n))).toEqual(r.n % 10 === 0 ? ["admin"] : []);
      if (r.n % 4 === 0) expect(first.emulator.memberRoles("globex", id(r.n))).toEqual(r.n % 20 === 0 ? ["viewer"] : []);
    }
    // 200 joins of acme and 50 of globex in 25 calls of 10 (the most Auth0 takes), none refused.
    expect(count(first.log, "POST", MEMBERS)).toBe(20 + 5);
    expect(count(first.log, "DELETE", MEMBERS)).toBe(0);
    expect(first.log.filter((e) => e.route.startsWith("/api/v2/organizations/:id") && e.status >= 400)).toEqual([]);
    // Member roles need the membership: one call per user and organization with roles (20 in acme, 10 in globex).
    expect(count(first.log, "POST", MEMBER_ROLES)).toBe(20 + 10);

    // Without the typo's row (which every run would look at again), nothing changed makes no call at all.
    const second = await run({ config, stateDir, csv: writeRows(csv, rows) });
    exact(second.summary);
    expect(second.summary).toMatchObject({ rowsRead: 200, unchanged: 200, created: 0, auth0Calls: 0, importJobs: 0 });
    expect(second.log).toEqual([]);
  }, 60_000);

  it("existing emails fall back to the per-user path: adopted when the user carries the same key or none (409 -> lookup -> patch), identity_conflict when another key; no duplicate user", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows: TableRow[] = Array.from({ length: 200 }, (_, i) => ({ n: i + 1 }));
    const csv = writeRows(join(dir, "users.csv"), rows);
    const config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 50 } });
    // Three of the rows' emails exist in Auth0 before the run, made by someone else: one with this row's key, one
    // with no key, one synced under another key.
    const before = [existingUser(5, { sync_key: key(5) }), existingUser(6, {}), existingUser(7, { sync_key: "c-9999" })];
    const first = await run({ config, stateDir, fresh: true, csv }, 5000, (e) => {
      const state = e.state();
      e.load({ ...state, users: [...state.users, ...before] });
    });
    exact(first.summary);
    expect(first.summary).toMatchObject({ rowsRead: 200, created: 197, updated: 2, rejected: 1, importedUsers: 197 });
    expect(first.summary.rejections).toEqual(["row 7, key c-0007: email: the Auth0 user with this email is synced under another identity key"]);
    // The job refused the three (CONFLICT_EMAIL) and created the others; the three were then made to match one by
    // one: a create answered 409, a lookup by email, a patch for the two adopted.
    expect(first.emulator.importStats()).toMatchObject({ usersInserted: 197, usersFailed: 3 });
    expect(count(first.log, "POST", USERS)).toBe(3);
    expect(count(first.log, "POST", USERS, 409)).toBe(3);
    expect(count(first.log, "GET", BY_EMAIL)).toBe(3);
    expect(count(first.log, "PATCH", "/api/v2/users/:id")).toBe(2);
    const users = tenant(stateDir).users;
    onePerEmail(users, rows.map((r) => mail(r.n)));
    const byEmail = (n: number) => users.find((u) => u.email === mail(n))!;
    // Adopted users keep their ids and get the row's profile, the key and their roles.
    for (const n of [5, 6]) {
      expect(byEmail(n)).toMatchObject({ user_id: `auth0|before${n}`, given_name: `First${n}`, app_metadata: { sync_key: key(n) }, roles: ["viewer"] });
    }
    // The user synced under another key is left as it was.
    expect(byEmail(7)).toMatchObject({ user_id: "auth0|before7", given_name: "Before", app_metadata: { sync_key: "c-9999" }, roles: [] });
    expect(byEmail(8)).toMatchObject({ given_name: "First8", app_metadata: { sync_key: key(8) }, roles: ["viewer"] });
  }, 60_000);

  it("a value Auth0's import schema refuses (a reserved app_metadata key our validation lets through) rejects its row, naming the row and the field; the others are imported", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    // The preferences column is also the user's app_metadata (an object). `_id` is not a reserved key of POST
    // /users, but Auth0's import schema forbids it (with __tenant and multifactor_last_modified).
    const rows: TableRow[] = Array.from({ length: 150 }, (_, i) => ({ n: i + 1, prefs: i + 1 === 42 ? '{"_id": "legacy-42", "theme": "dark"}' : '{"theme": "dark"}' }));
    const csv = writeRows(join(dir, "users.csv"), rows);
    const config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 50 }, mapping: { app_metadata: { column: "preferences" } } });
    const first = await run({ config, stateDir, fresh: true, csv });
    exact(first.summary);
    expect(first.summary).toMatchObject({ rowsRead: 150, created: 149, rejected: 1, importedUsers: 149 });
    expect(first.summary.rejections).toEqual(["row 42, key c-0042: app_metadata: Auth0's import refused it: app_metadata may not contain reserved keys: _id"]);
    expect(first.emulator.importStats()).toMatchObject({ usersInserted: 149, usersFailed: 1 });
    // Rejected with the job's verdict: no per-user attempt.
    expect(count(first.log, "POST", USERS)).toBe(0);
    const users = tenant(stateDir).users;
    onePerEmail(users, rows.filter((r) => r.n !== 42).map((r) => mail(r.n)));
    expect(users.find((u) => u.email === mail(1))!.app_metadata).toMatchObject({ sync_key: key(1), theme: "dark" });
  }, 60_000);

  it("a failed job: its users go the per-user way, those it had inserted found by email; every user created once and counted created", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows: TableRow[] = Array.from({ length: 200 }, (_, i) => ({ n: i + 1, roles: (i + 1) % 4 === 0 ? "viewer,editor" : "viewer" }));
    const csv = writeRows(join(dir, "users.csv"), rows);
    // (Small messages: the users handed back are spread over many consumer instances.)
    const config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 50 }, queue: { usersPerMessage: 5 } });
    const first = await run({ config, stateDir, fresh: true, csv }, 5000, (e) => e.failNextImportJobs(1));
    exact(first.summary);
    // On an empty tenant every row is created, whatever Auth0 did with the job (docs/architecture.md).
    expect(first.summary).toMatchObject({ rowsRead: 200, created: 200, updated: 0, unchanged: 0, rejected: 0, deadLettered: 0, importJobs: 1, importedUsers: 0 });
    // The job inserted half before it failed: the per-user path found those by email and created the others.
    expect(first.emulator.importStats()).toMatchObject({ jobs: 1, usersInserted: 100 });
    expect(count(first.log, "POST", IMPORTS)).toBe(1);
    expect(count(first.log, "GET", BY_EMAIL)).toBe(200);
    expect(count(first.log, "POST", USERS, 201)).toBe(100);
    expect(count(first.log, "POST", USERS)).toBe(100);
    const users = tenant(stateDir).users;
    onePerEmail(users, rows.map((r) => mail(r.n)));
    for (const u of users) {
      const n = Number(/^user(\d+)@/.exec(u.email!)![1]);
      expect(u.app_metadata).toMatchObject({ sync_key: key(n) });
      expect(u.given_name).toBe(`First${n}`);
      expect(u.roles).toEqual(n % 4 === 0 ? ["editor", "viewer"] : ["viewer"]);
    }
    expect(users.filter((u) => u.hasPassword)).toHaveLength(100);
    const second = await run({ config, stateDir, csv });
    exact(second.summary);
    expect(second.summary).toMatchObject({ unchanged: 200, auth0Calls: 0 });
  }, 60_000);

  it("another client holds the two active import jobs: the sync's submit meets Auth0's 429, is tried again once one ends, and completes; nothing lost or duplicated", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows: TableRow[] = Array.from({ length: 200 }, (_, i) => ({ n: i + 1 }));
    const csv = writeRows(join(dir, "users.csv"), rows);
    const config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 50 } });
    const others = (batch: string) => Array.from({ length: 1000 }, (_, i) => ({ email: `other-${batch}-${i}@example.com`, user_id: `other-${batch}-${i}` }));
    // The other client's two jobs would run for 20 s at 50 users a second; 1.5 s after the sync first met the 429
    // (longer than SQS takes to deliver a failed batch maxReceiveCount times here), the emulator speeds up, so that
    // the test need not wait, and they end.
    let held = 0;
    let watch: NodeJS.Timeout | undefined;
    const first = await run({ config, stateDir, fresh: true, csv }, 50, async (e) => {
      for (const b of ["a", "b"]) {
        const res = await importCall(e, others(b), { send_completion_email: "false" });
        expect(res.status).toBe(202);
      }
      held = Date.now();
      watch = setInterval(() => {
        if (!e.requestLog.some((x) => x.route === IMPORTS && x.status === 429)) return;
        clearInterval(watch);
        watch = setTimeout(() => e.setImportJobSettings({ usersPerSecond: 5000 }), 1500);
      }, 20);
    }).finally(() => clearTimeout(watch));
    exact(first.summary);
    expect(first.summary).toMatchObject({ rowsRead: 200, created: 200, rejected: 0, deadLettered: 0, importJobs: 1, importedUsers: 200 });
    const refused = first.log.filter((e) => e.route === IMPORTS && e.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0]!.t).toBeGreaterThanOrEqual(held);
    // Refused for as long as the other jobs ran, then accepted.
    expect(refused.at(-1)!.t - refused[0]!.t).toBeGreaterThanOrEqual(1000);
    // Created once the other client's jobs left room: three jobs in all, every user inserted once.
    expect(first.emulator.importStats()).toMatchObject({ jobs: 3, usersInserted: 2200, usersFailed: 0 });
    // The other client's two jobs, then the sync's one, accepted after its last refusal: never submitted twice.
    const accepted = first.log.filter((e) => e.route === IMPORTS && e.status === 202);
    expect(accepted).toHaveLength(3);
    expect(accepted[2]!.t).toBeGreaterThan(refused.at(-1)!.t);
    expect(count(first.log, "POST", USERS)).toBe(0);
    onePerEmail(tenant(stateDir).users, [...rows.map((r) => mail(r.n)), ...others("a").map((u) => u.email), ...others("b").map((u) => u.email)]);
  }, 60_000);

  it("an importer given up while its job runs: the next delivery follows the same job (never submitted twice); every user created and counted once", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows: TableRow[] = Array.from({ length: 300 }, (_, i) => ({ n: i + 1 }));
    const csv = writeRows(join(dir, "users.csv"), rows);
    const config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 50 } });
    // 300 users at 100 a second: the job runs for about 3 s; the first importer invocation is given up after 1.5 s.
    const invocations: number[] = [];
    let emulator: Auth0Emulator | undefined;
    let insertedAtGiveUp: number | undefined;
    const abandonInvocation = (n: number) => {
      invocations.push(n);
      if (n !== 0) return undefined;
      setTimeout(() => (insertedAtGiveUp = emulator!.importStats().usersInserted), 1500);
      return 1500;
    };
    const first = await run({ config, stateDir, fresh: true, csv, chaos: { importer: { abandonInvocation } } }, 100, (e) => void (emulator = e));
    exact(first.summary);
    expect(first.summary).toMatchObject({ rowsRead: 300, created: 300, rejected: 0, deadLettered: 0, importJobs: 1, importedUsers: 300 });
    // Given up mid-job, delivered again once, and that delivery followed the job the first had submitted.
    expect(invocations).toEqual([0, 1]);
    expect(insertedAtGiveUp).toBeGreaterThan(0);
    expect(insertedAtGiveUp).toBeLessThan(300);
    expect(first.emulator.importStats()).toMatchObject({ jobs: 1, usersInserted: 300, usersFailed: 0 });
    expect(count(first.log, "POST", IMPORTS)).toBe(1);
    expect(count(first.log, "POST", USERS)).toBe(0);
    expect(count(first.log, "GET", BY_EMAIL)).toBe(0);
    const users = tenant(stateDir).users;
    onePerEmail(users, rows.map((r) => mail(r.n)));
    expect(users.every((u) => u.roles.length === 1 && u.roles[0] === "viewer")).toBe(true);
  }, 60_000);

  it("a tenant copy creates its new users through the same import jobs", async () => {
    const stateDir = join(tempDir(), "state");
    const copy = parseConfig(readFileSync(new URL("../../config/tenant-copy.yml", import.meta.url), "utf8"));
    const config = { ...copy, create: { ...copy.create, bulk: "auto" as const, bulkMinUsers: 50 } };
    const first = await run({ config, stateDir, fresh: true, seedRows: 150 });
    exact(first.summary);
    const source = JSON.parse(readFileSync(join(stateDir, "source-tenant.json"), "utf8")) as TenantState;
    expect(source.users.length).toBeGreaterThan(120);
    expect(first.summary).toMatchObject({ rowsRead: source.users.length, created: source.users.length, rejected: 0, deadLettered: 0, importedUsers: source.users.length });
    expect(first.summary.importJobs).toBeGreaterThan(0);
    expect(first.emulator.importStats()).toMatchObject({ jobs: first.summary.importJobs, usersInserted: source.users.length, usersFailed: 0, completionEmails: 0 });
    expect(count(first.log, "POST", USERS)).toBe(0);
    // Every source user once, as the copy's transform makes it, with its roles and no verification email.
    const target = tenant(stateDir);
    expect(target.users).toHaveLength(source.users.length);
    expect(target.verificationEmails).toEqual([]);
    const p = new Pseudonymiser(config.transform!, readFileSync(join(stateDir, "pseudonym.key"), "utf8").trim());
    const byKey = new Map(target.users.map((u) => [u.app_metadata.sync_key as string, u]));
    for (const s of source.users) {
      const t = byKey.get(p.identityKey(s.user_id));
      expect(t, `the copy of ${s.user_id}`).toBeDefined();
      expect(t!.user_id).toMatch(/^auth0\|[0-9a-f]{24}$/);
      expect(t!.roles).toEqual(s.roles);
      expect(t!.email_verified).toBe(s.email_verified);
      expect(t!.blocked ?? false).toBe(s.blocked ?? false);
      expect(t!.user_metadata).toEqual({ plan: s.user_metadata.plan, preferences: s.user_metadata.preferences });
    }
    const refresh = await run({ config, stateDir });
    exact(refresh.summary);
    expect(refresh.summary).toMatchObject({ unchanged: source.users.length, auth0Calls: 0, importJobs: 0 });
  }, 60_000);
});
