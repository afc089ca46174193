import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { SyncConfig } from "../../functions/core/config.js";
import type { TenantState } from "../../local/auth0-emulator.js";
import { runLocalPipeline, type LocalRunSummary } from "../../local/pipeline.js";
import { tempDir } from "../helpers/tmp.js";
import { demoRows, exampleConfigWith, writeCsv, type Row } from "../helpers/demo-csv.js";

const rows = (n: number): Row[] => demoRows(n);
const configWith = (mirror: Record<string, unknown>): SyncConfig => exampleConfigWith({ mirror });

const tenant = (dir: string) => JSON.parse(readFileSync(join(dir, "state", "tenant.json"), "utf8")) as TenantState;

describe("the ledger: change detection, stable identity, mirror mode and roles", () => {
  const dir = tempDir();
  const csv = join(dir, "users.csv");
  const N = 200;
  let data = rows(N);
  const config = configWith({ enabled: true, action: "delete", ignore: ["c-0003"], threshold: { maxCount: 1000, maxShare: 0.1 } });
  const run = (over: Partial<Parameters<typeof runLocalPipeline>[0]> = {}): Promise<LocalRunSummary> =>
    runLocalPipeline({ config, stateDir: join(dir, "state"), csv, rate: 500, ...over });

  it("run 1 creates N users", async () => {
    writeCsv(csv, data);
    const r = await run({ fresh: true });
    expect(r).toMatchObject({ rowsRead: N, created: N, rejected: 0, unaccounted: 0 });
  }, 60_000);

  it("run 2 with no warehouse change makes 0 Auth0 calls", async () => {
    const r = await run();
    expect(r).toMatchObject({ rowsRead: N, unchanged: N, created: 0, updated: 0, auth0Calls: 0, unaccounted: 0 });
  }, 60_000);

  it("run 3 with 1% of rows changed makes exactly that many calls, plus role calls where roles changed", async () => {
    data = data.map((r, i) => (i === 10 || i === 20 ? { ...r, first: `${r.first}-renamed` } : i === 30 ? { ...r, roles: "viewer,editor" } : r));
    writeCsv(csv, data);
    const r = await run();
    expect(r).toMatchObject({ updated: 3, unchanged: N - 3, unaccounted: 0 });
    // Two PATCHes; the role change resolves role names once (GET /roles) and assigns the new one (POST).
    expect(r.auth0Calls).toBe(2 + 2);
    const users = tenant(dir).users;
    expect(users.find((u) => u.email === "user11@example.com")?.given_name).toBe("First11-renamed");
    expect(users.find((u) => u.email === "user31@example.com")?.roles).toEqual(["editor", "viewer"]);
  }, 60_000);

  it("an email change for the same key keeps the same Auth0 user", async () => {
    const before = tenant(dir).users.find((u) => u.email === "user5@example.com")!;
    data = data.map((r) => (r.id === "c-0005" ? { ...r, email: "renamed5@example.org" } : r));
    writeCsv(csv, data);
    const r = await run();
    expect(r).toMatchObject({ updated: 1, created: 0, auth0Calls: 1, unaccounted: 0 });
    const users = tenant(dir).users;
    expect(users.find((u) => u.user_id === before.user_id)?.email).toBe("renamed5@example.org");
    expect(users.filter((u) => u.email === "user5@example.com")).toEqual([]);
    expect(users).toHaveLength(N);
  }, 60_000);

  it("a mirror run deletes exactly the absent managed users, sparing an unmanaged user and an ignored one", async () => {
    // An unmanaged user of the same domain, created in Auth0 by someone else.
    const state = tenant(dir);
    state.users.push({
      user_id: "auth0|000000000000000000000abc",
      connection: "Username-Password-Authentication",
      email: "stranger@example.com",
      email_verified: true,
      user_metadata: {},
      app_metadata: {},
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
      hasPassword: true,
      roles: [],
    });
    writeFileSync(join(dir, "state", "tenant.json"), JSON.stringify(state));
    const gone = ["c-0003", "c-0007", "c-0008"];
    const goneIds = tenant(dir).users.filter((u) => gone.includes(u.app_metadata.sync_key as string)).map((u) => u.user_id);
    data = data.filter((r) => !gone.includes(r.id));
    writeCsv(csv, data);
    const r = await run();
    expect(r).toMatchObject({ rowsRead: N - 3, unchanged: N - 3, deleted: 2, held: false, unaccounted: 0 });
    const after = tenant(dir).users;
    expect(after.map((u) => u.user_id)).not.toContain(goneIds[1]);
    expect(after.map((u) => u.user_id)).not.toContain(goneIds[2]);
    // c-0003 is on the ignore list; the stranger was never managed.
    expect(after.find((u) => u.app_metadata.sync_key === "c-0003")).toBeDefined();
    expect(after.find((u) => u.email === "stranger@example.com")).toBeDefined();
    expect(after).toHaveLength(N - 2 + 1);
  }, 60_000);

  it("a run that would delete 40% with a 10% threshold deletes nothing and reports held", async () => {
    const before = tenant(dir).users.length;
    const kept = data.slice(0, Math.floor(data.length * 0.6));
    writeCsv(csv, kept);
    const r = await run();
    expect(r.held).toBe(true);
    expect(r.heldReason).toMatch(/^\d+ of \d+ managed users \(\d+\.\d%\) are absent; the threshold is 1000 users or 10\.0%/);
    expect(r).toMatchObject({ deleted: 0, blocked: 0, unaccounted: 0 });
    expect(tenant(dir).users).toHaveLength(before);
    // Approved, the same run goes through.
    const approved = await run({ approveMirror: true });
    expect(approved.held).toBe(false);
    // c-0003 left the table earlier and is ignored, so it is not among them.
    expect(approved.deleted).toBe(data.length - kept.length);
    expect(approved.unaccounted).toBe(0);
  }, 120_000);
});

describe("first contact with an existing Auth0 user", () => {
  it("adopts it: same user, marked managed, only what differs patched, and unchanged afterwards", async () => {
    const dir = tempDir();
    const csv = join(dir, "users.csv");
    writeCsv(csv, rows(2));
    const config = configWith({ enabled: false });
    const stateDir = join(dir, "state");
    // Seed the tenant with user1 as someone else created it.
    await runLocalPipeline({ config, stateDir, csv: (writeCsv(join(dir, "none.csv"), []), join(dir, "none.csv")), fresh: true, rate: 500 });
    const state = JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState;
    state.users.push({
      user_id: "auth0|0000000000000000000000aa",
      connection: "Username-Password-Authentication",
      email: "user1@example.com",
      email_verified: true,
      given_name: "Old",
      family_name: "Last",
      user_metadata: { theirs: true, plan: "pro" },
      app_metadata: {},
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
      hasPassword: true,
      roles: ["viewer"],
    });
    writeFileSync(join(stateDir, "tenant.json"), JSON.stringify(state));
    const r = await runLocalPipeline({ config, stateDir, csv, rate: 500 });
    expect(r).toMatchObject({ created: 1, updated: 1, unaccounted: 0 });
    const after = (JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState).users;
    const adopted = after.find((u) => u.user_id === "auth0|0000000000000000000000aa")!;
    // tier is create-only in the example config: an adopted user does not get it.
    expect(adopted).toMatchObject({ given_name: "First1", email_verified: true, app_metadata: { sync_key: "c-0001" }, roles: ["viewer"] });
    expect(adopted.app_metadata).toEqual({ sync_key: "c-0001" });
    expect(adopted.user_metadata).toMatchObject({ theirs: true, plan: "pro" });
    expect(after).toHaveLength(2);
    const again = await runLocalPipeline({ config, stateDir, csv, rate: 500 });
    expect(again).toMatchObject({ unchanged: 2, auth0Calls: 0 });
  }, 60_000);
});

describe("mirror mode with block", () => {
  it("blocks an absent managed user, leaves it blocked while absent, and unblocks it when it comes back", async () => {
    const dir = tempDir();
    const csv = join(dir, "users.csv");
    const stateDir = join(dir, "state");
    const config = configWith({ enabled: true, action: "block", threshold: { maxCount: 10, maxShare: 0.5 } });
    const all = rows(10);
    writeCsv(csv, all);
    await runLocalPipeline({ config, stateDir, csv, fresh: true, rate: 500 });
    const user = () => (JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState).users.find((u) => u.email === "user4@example.com")!;
    writeCsv(csv, all.filter((r) => r.id !== "c-0004"));
    const gone = await runLocalPipeline({ config, stateDir, csv, rate: 500 });
    expect(gone).toMatchObject({ rowsRead: 9, unchanged: 9, blocked: 1, unaccounted: 0 });
    expect(user().blocked).toBe(true);
    const still = await runLocalPipeline({ config, stateDir, csv, rate: 500 });
    expect(still).toMatchObject({ blocked: 0, auth0Calls: 0, unaccounted: 0 });
    writeCsv(csv, all);
    const back = await runLocalPipeline({ config, stateDir, csv, rate: 500 });
    expect(back).toMatchObject({ updated: 1, unchanged: 9, unaccounted: 0 });
    expect(user().blocked).toBe(false);
  }, 90_000);
});
