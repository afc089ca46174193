/**
 * Issue 17 through the local pipeline: organization memberships and member roles from the table (config/example.yml's
 * `organizations`), against the emulator's organizations (built from Auth0's documentation: at most 10 members a
 * request). What the tenant holds and which calls were made are read from the emulator.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Auth0Emulator, RequestLogEntry } from "../../local/auth0-emulator.js";
import { readFileSync } from "node:fs";
import { runLocalPipeline, runLocalReconcile, type LocalRunOptions } from "../../local/pipeline.js";
import type { TenantState } from "../../local/auth0-emulator.js";
import { exampleConfigWith } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const HEADER = "customer_id,email,first_name,last_name,phone,avatar_url,plan,tier,preferences,roles,orgs,org_roles,is_blocked,status";

interface OrgRow {
  n: number;
  orgs: string;
  orgRoles?: string;
}

const email = (n: number) => `member${n}@example.com`;
const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

function writeRows(path: string, rows: OrgRow[]): string {
  const line = (r: OrgRow) => `c-${String(r.n).padStart(4, "0")},${email(r.n)},First${r.n},Last,,,pro,gold,,viewer,${q(r.orgs)},${r.orgRoles ? q(r.orgRoles) : ""},false,active`;
  writeFileSync(path, [HEADER, ...rows.map(line)].join("\n"));
  return path;
}

/** Runs the pipeline and returns its summary with the emulator's request log of that run. */
async function runWithLog(opts: LocalRunOptions): Promise<{ summary: Awaited<ReturnType<typeof runLocalPipeline>>; log: readonly RequestLogEntry[]; emulator: Auth0Emulator }> {
  let emulator: Auth0Emulator | undefined;
  const summary = await runLocalPipeline({ ...opts, onEnvironment: (env) => void (emulator = env.emulator) });
  return { summary, log: emulator!.requestLog, emulator: emulator! };
}

const calls = (log: readonly RequestLogEntry[], method: string, route: string) => log.filter((e) => e.method === method && e.route === route);
const MEMBERS = "/api/v2/organizations/:id/members";
const MEMBER_ROLES = "/api/v2/organizations/:id/members/:id/roles";

describe("organizations: memberships and member roles from the table", () => {
  it("run 1 joins and gives roles (each message's 25 new users of one organization in 3 calls of at most 10); an unknown organization rejects its row; a re-run makes no call; a change is one add and one remove", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    // 250 users of acme: ten messages of 25 (an invocation each); then, in one more message, a user of globex and
    // initech, one of globex, a typo and a user of none.
    const rows: OrgRow[] = [
      ...Array.from({ length: 250 }, (_, i): OrgRow => ({ n: i + 1, orgs: "acme", orgRoles: i % 5 === 0 ? '{"acme": ["admin"]}' : undefined })),
      { n: 251, orgs: "globex,initech", orgRoles: "globex:viewer,initech:admin" },
      { n: 252, orgs: '["globex"]' },
      { n: 253, orgs: "acme,nowhere-inc" },
      { n: 254, orgs: "" },
    ];
    const config = exampleConfigWith();
    const first = await runWithLog({ config, stateDir, fresh: true, csv: writeRows(csv, rows), rate: 500 });
    expect(first.summary).toMatchObject({ rowsRead: 254, created: 253, rejected: 1, unaccounted: 0 });
    expect(first.summary.rejections).toEqual(["row 253, key c-0253: orgs: unknown organization: nowhere-inc (no organization with this name in the tenant)"]);

    const tenant = first.emulator.state();
    const idOf = (n: number) => tenant.users.find((u) => u.email === email(n))?.user_id;
    // The rejected row was refused before any write: no user, no membership.
    expect(idOf(253)).toBeUndefined();
    const members = (org: string) => first.emulator.organizationMembers(org).sort();
    expect(members("acme")).toEqual(rows.slice(0, 250).map((r) => idOf(r.n)!).sort());
    expect(members("globex")).toEqual([idOf(251)!, idOf(252)!].sort());
    expect(members("initech")).toEqual([idOf(251)!]);
    expect(members("umbrella")).toEqual([]);
    for (const r of rows.slice(0, 250)) expect(first.emulator.memberRoles("acme", idOf(r.n)!)).toEqual(r.orgRoles ? ["admin"] : []);
    expect(first.emulator.memberRoles("globex", idOf(251)!)).toEqual(["viewer"]);
    expect(first.emulator.memberRoles("initech", idOf(251)!)).toEqual(["admin"]);

    // Grouped: new users' joins across invocations (the writes queue, up to 100 users a batch: core/created-writes.ts),
    // so acme's 250 joins in calls of at most 10 (the emulator refuses 11 with a 400, and none was refused): 25 full
    // ones and at most a few partial ones at the batches' ends, where grouping per invocation of 25 took 30; globex's
    // two joins in one call, initech's one; member roles one call per user and organization.
    // (The one refusal is the lookup of the unknown organization's name.)
    expect(first.log.filter((e) => e.route.startsWith("/api/v2/organizations") && e.status >= 400).map((e) => `${e.status} ${e.route}`)).toEqual(["404 /api/v2/organizations/name/:id"]);
    const joins = calls(first.log, "POST", MEMBERS).length;
    expect(joins).toBeGreaterThanOrEqual(25 + 1 + 1);
    expect(joins).toBeLessThan(30 + 1 + 1);
    expect(calls(first.log, "POST", MEMBER_ROLES)).toHaveLength(50 + 2);
    // Each organization is resolved by name once per consumer instance, not once per user.
    expect(calls(first.log, "GET", "/api/v2/organizations/name/:id").length).toBeLessThan(30);

    // The typo's row is looked at again by every run (its organization is looked up, and refused again): a
    // re-run with it makes reads only. Without it, nothing changed makes no call at all.
    const withTypo = await runWithLog({ config, stateDir, csv, rate: 500 });
    expect(withTypo.summary).toMatchObject({ unchanged: 253, rejected: 1 });
    expect(withTypo.log.filter((e) => e.method !== "GET" && e.route !== "/oauth/token")).toEqual([]);
    const clean = rows.filter((r) => r.n !== 253);
    const again = await runWithLog({ config, stateDir, csv: writeRows(csv, clean), rate: 500 });
    expect(again.summary).toMatchObject({ unchanged: 253, rejected: 0, auth0Calls: 0 });

    // User 2 moves from acme to globex: one add (globex) and one remove (acme), and nothing else is written.
    const moved = clean.map((r) => (r.n === 2 ? { ...r, orgs: "globex" } : r));
    const change = await runWithLog({ config, stateDir, csv: writeRows(csv, moved), rate: 500 });
    expect(change.summary).toMatchObject({ updated: 1, unchanged: 252, rejected: 0, unaccounted: 0 });
    expect(calls(change.log, "POST", MEMBERS)).toHaveLength(1);
    expect(calls(change.log, "DELETE", MEMBERS)).toHaveLength(1);
    expect(calls(change.log, "POST", MEMBER_ROLES)).toHaveLength(0);
    expect(change.log.filter((e) => e.route !== "/api/v2/organizations/name/:id" && e.route !== "/oauth/token" && e.route !== MEMBERS)).toEqual([]);
    expect(change.emulator.organizationMembers("globex").sort()).toEqual([2, 251, 252].map((n) => idOf(n)!).sort());
    expect(change.emulator.organizationMembers("acme")).toHaveLength(249);
  }, 120_000);

  it("removeUnlisted: false never removes a membership; mirror mode's block leaves memberships, its delete takes them with the user", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    const rows: OrgRow[] = Array.from({ length: 6 }, (_, i) => ({ n: i + 1, orgs: "acme,globex", orgRoles: '{"acme": ["admin", "viewer"]}' }));
    const mirror = { enabled: true, action: "block", threshold: { maxCount: 10, maxShare: 0.9 } };
    const keep = exampleConfigWith({ organizations: { removeUnlisted: false }, mirror });
    const first = await runWithLog({ config: keep, stateDir, fresh: true, csv: writeRows(csv, rows), rate: 500 });
    const idOf = (n: number) => first.emulator.state().users.find((u) => u.email === email(n))!.user_id;
    expect(first.emulator.organizationMembers("globex")).toHaveLength(6);

    // Row 1 leaves globex and loses a role in acme: nothing is written for it (counted unchanged); row 6 leaves the
    // table (blocked by mirror mode).
    const next = rows.filter((r) => r.n !== 6).map((r) => (r.n === 1 ? { ...r, orgs: "acme", orgRoles: '{"acme": ["admin"]}' } : r));
    const second = await runWithLog({ config: keep, stateDir, csv: writeRows(csv, next), rate: 500 });
    expect(second.summary).toMatchObject({ updated: 0, unchanged: 5, blocked: 1, unaccounted: 0 });
    expect(calls(second.log, "DELETE", MEMBERS)).toEqual([]);
    expect(calls(second.log, "DELETE", MEMBER_ROLES)).toEqual([]);
    expect(second.emulator.organizationMembers("globex")).toContain(idOf(1));
    expect(second.emulator.memberRoles("acme", idOf(1))).toEqual(["admin", "viewer"]);
    expect(second.emulator.organizationMembers("acme")).toContain(idOf(6));

    // Mirror mode's delete: the users absent (row 5, and row 6 blocked before) go, and their memberships with them
    // (Auth0 ends them); nothing else is removed.
    const remove = exampleConfigWith({ mirror: { ...mirror, action: "delete" } });
    const third = await runWithLog({ config: remove, stateDir, csv: writeRows(csv, next.filter((r) => r.n !== 5)), rate: 500 });
    expect(third.summary).toMatchObject({ deleted: 2, unaccounted: 0 });
    expect(calls(third.log, "DELETE", MEMBERS)).toEqual([]);
    expect(third.emulator.organizationMembers("acme").sort()).toEqual([1, 2, 3, 4].map(idOf).sort());
  }, 120_000);

  it("a reconcile finds membership drift made in the dashboard on the organizations the sync manages, and repairs it", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    const rows: OrgRow[] = [...Array.from({ length: 6 }, (_, i): OrgRow => ({ n: i + 1, orgs: "acme", orgRoles: i === 0 ? '{"acme": ["admin"]}' : undefined })), { n: 7, orgs: "globex" }];
    const config = exampleConfigWith({ reconcile: { repair: true } });
    await runLocalPipeline({ config, stateDir, fresh: true, csv: writeRows(csv, rows), rate: 500 });

    // In the dashboard: user 1 loses its acme admin role, user 2 is removed from acme, user 3 added to globex.
    const file = join(stateDir, "tenant.json");
    const tenant = JSON.parse(readFileSync(file, "utf8")) as TenantState;
    const idOf = (n: number) => tenant.users.find((u) => u.email === email(n))!.user_id;
    const org = (name: string) => tenant.organizations!.find((o) => o.name === name)!;
    org("acme").members = org("acme").members.filter((m) => m.user_id !== idOf(2)).map((m) => (m.user_id === idOf(1) ? { ...m, roles: [] } : m));
    org("globex").members.push({ user_id: idOf(3), roles: [] });
    writeFileSync(file, JSON.stringify(tenant));

    let emulator: Auth0Emulator | undefined;
    const reconciled = await runLocalReconcile({ config, stateDir, csv, rate: 500, poll: { initialMs: 50, maxMs: 100 }, onEnvironment: (env) => void (emulator = env.emulator) });
    expect(reconciled).toMatchObject({ drifted: 3, repairsQueued: 3, repairOutcomes: { updated: 3 } });
    expect(emulator!.organizationMembers("acme").sort()).toEqual([1, 2, 3, 4, 5, 6].map(idOf).sort());
    expect(emulator!.memberRoles("acme", idOf(1))).toEqual(["admin"]);
    expect(emulator!.organizationMembers("globex")).toEqual([idOf(7)]);
  }, 120_000);

  it("organizations added to a running sync remove nothing they did not add; a member removed by hand gets its membership back with a role change", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    const rows: OrgRow[] = [{ n: 1, orgs: "acme" }, { n: 2, orgs: "acme" }];
    const withOrgs = exampleConfigWith();
    await runLocalPipeline({ config: { ...withOrgs, organizations: undefined, unmappedColumns: "ignore" }, stateDir, fresh: true, csv: writeRows(csv, rows), rate: 500 });
    const file = join(stateDir, "tenant.json");
    const edit = (fn: (t: TenantState, idOf: (n: number) => string) => void) => {
      const t = JSON.parse(readFileSync(file, "utf8")) as TenantState;
      fn(t, (n) => t.users.find((u) => u.email === email(n))!.user_id);
      writeFileSync(file, JSON.stringify(t));
    };
    let user1 = "";
    // Made by hand before the sync manages organizations: user 1 in globex.
    edit((t, idOf) => {
      user1 = idOf(1);
      t.organizations!.find((o) => o.name === "globex")!.members.push({ user_id: user1, roles: [] });
    });
    const adding = await runWithLog({ config: withOrgs, stateDir, csv, rate: 500 });
    expect(adding.summary).toMatchObject({ updated: 2, unaccounted: 0 });
    expect(adding.emulator.organizationMembers("acme")).toContain(user1);
    expect(adding.emulator.organizationMembers("globex")).toEqual([user1]);
    expect(calls(adding.log, "DELETE", MEMBERS)).toEqual([]);

    // Removed from acme by hand; then the table gives user 1 a role in acme: it is a member again, with the role.
    edit((t) => {
      const acme = t.organizations!.find((o) => o.name === "acme")!;
      acme.members = acme.members.filter((m) => m.user_id !== user1);
    });
    const roleChange = await runWithLog({ config: withOrgs, stateDir, csv: writeRows(csv, [{ n: 1, orgs: "acme", orgRoles: "acme:admin" }, rows[1]!]), rate: 500 });
    expect(roleChange.summary).toMatchObject({ updated: 1, rejected: 0, unaccounted: 0 });
    expect(roleChange.emulator.organizationMembers("acme")).toContain(user1);
    expect(roleChange.emulator.memberRoles("acme", user1)).toEqual(["admin"]);
    expect(roleChange.emulator.organizationMembers("globex")).toEqual([user1]);
  }, 120_000);
});
