/**
 * Issue 24, point 7: a reconcile adopts into the ledger only users a row of the table claims. A user carrying a
 * sync key no row has (a tenant copy's, a deleted row's) is left alone and reported; a seed an earlier reconcile
 * made of such a user is removed; a later row with that key never patches it through a seed. And mirror mode never
 * blocks or deletes a user that only the reconcile has seen (a seed is not managed).
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TenantState, TenantUser } from "../../local/auth0-emulator.js";
import { LocalEnvironment, runLocalPipeline, runLocalReconcile } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const config = exampleConfigWith({ reconcile: { repair: true } });
const tenantFile = (state: string) => join(state, "tenant.json");
const readTenant = (state: string) => JSON.parse(readFileSync(tenantFile(state), "utf8")) as TenantState;
const byKey = (t: TenantState, key: string) => t.users.filter((u) => u.app_metadata.sync_key === key);

describe("reconcile: only users a row claims are adopted", () => {
  it("a user with a sync key no row has is left alone and reported, an earlier seed of it removed; a later row with that key never overwrites it", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    const csv = join(dir, "users.csv");
    const rows = demoRows(10);
    await runLocalPipeline({ config, stateDir: state, csv: writeCsv(csv, rows), rate: 500, fresh: true });
    // Someone else's user carrying a sync key of the table's shape (as a tenant copy leaves them), and one with
    // no sync key that no row has.
    const t = readTenant(state);
    const outsider: TenantUser = { ...byKey(t, "c-0001")[0]!, user_id: "auth0|outsider00000000000000099", email: "outsider@example.org", given_name: "Outsider", family_name: "Person", app_metadata: { sync_key: "c-0099" }, roles: [] };
    const stranger: TenantUser = { ...outsider, user_id: "auth0|stranger0000000000000000", email: "stranger@example.org", app_metadata: {} };
    t.users.push(outsider, stranger);
    writeFileSync(tenantFile(state), JSON.stringify(t));

    // An earlier reconcile (before this fix) had seeded the outsider under its key: the ledger holds that seed.
    const staleSeed = async (env: LocalEnvironment) => {
      await env.ledgerFor!().users.putMany([{ key: "c-0099", userId: outsider.user_id, managed: false, observed: { user_id: outsider.user_id, email: outsider.email, given_name: "Outsider", app_metadata: { sync_key: "c-0099" } }, lastRunSeen: "reconcile-earlier" }]);
    };
    const r = await runLocalReconcile({ config, stateDir: state, csv, rate: 500, onEnvironment: staleSeed });
    expect(r).toMatchObject({ usersInTenant: 12, managed: 10, adopted: 0, unclaimed: 1, unmatched: 1, seedsRemoved: 1, rowsRead: 10 });
    const env = await LocalEnvironment.start({ config, stateDir: state, csv });
    try {
      expect(await env.ledgerFor!().users.get("c-0099")).toBeUndefined();
    } finally {
      await env.stop();
    }

    // A row with that key arrives, for another person: it is created as its own user; the outsider keeps its
    // email and name (before the fix the seed made the run patch the outsider into the row's user).
    const withRow = [...rows, { id: "c-0099", email: "newrow@example.com", first: "Newrow", roles: "viewer" }];
    expect(await runLocalPipeline({ config, stateDir: state, csv: writeCsv(csv, withRow), rate: 500 })).toMatchObject({ created: 1, updated: 0, unaccounted: 0 });
    const after = readTenant(state);
    expect(after.users.find((u) => u.user_id === outsider.user_id)).toMatchObject({ email: "outsider@example.org", given_name: "Outsider", family_name: "Person" });
    expect(after.users.find((u) => u.email === "newrow@example.com")).toMatchObject({ given_name: "Newrow", app_metadata: { sync_key: "c-0099" } });
  }, 120_000);

  it("mirror mode never blocks or deletes a user only the reconcile has seen: its seed is not managed", async () => {
    const dir = tempDir();
    const first = join(dir, "first");
    const csv = join(dir, "users.csv");
    const rows = demoRows(10);
    await runLocalPipeline({ config, stateDir: first, csv: writeCsv(csv, rows), rate: 500, fresh: true });
    // The ledger lost: a reconcile seeds all ten users from the export (each claimed by its row).
    const state = join(dir, "lost");
    mkdirSync(state, { recursive: true });
    cpSync(tenantFile(first), tenantFile(state));
    expect(await runLocalReconcile({ config, stateDir: state, csv, rate: 500 })).toMatchObject({ adopted: 10, managed: 0 });

    // Five rows leave the table before any sync ran: their users were only seen by the reconcile.
    const mirror = (action: string) => exampleConfigWith({ mirror: { enabled: true, action, threshold: { maxCount: 100, maxShare: 0.9 } } });
    const kept = rows.slice(5);
    const blockRun = await runLocalPipeline({ config: mirror("block"), stateDir: state, csv: writeCsv(csv, kept), rate: 500 });
    expect(blockRun).toMatchObject({ blocked: 0, deleted: 0, held: false, unaccounted: 0 });
    const deleteRun = await runLocalPipeline({ config: mirror("delete"), stateDir: state, csv, rate: 500 });
    expect(deleteRun).toMatchObject({ blocked: 0, deleted: 0, held: false, unaccounted: 0 });
    const t = readTenant(state);
    for (const r of rows.slice(0, 5)) expect(byKey(t, r.id)[0]?.blocked ?? false, r.id).toBe(false);
    expect(t.users).toHaveLength(10);

    // Mirror mode does act on users the sync applied a row to: one of the kept rows leaves, and is deleted.
    expect(await runLocalPipeline({ config: mirror("delete"), stateDir: state, csv: writeCsv(csv, kept.slice(1)), rate: 500 })).toMatchObject({ deleted: 1, unaccounted: 0 });
    expect(readTenant(state).users).toHaveLength(9);
  }, 180_000);
});
