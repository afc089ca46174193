/**
 * Reconcile through the local pipeline: drift made directly in the tenant is found and repaired by one reconcile
 * (through the queue and the consumers), the next reconcile finds none, and what the sync does not own is left
 * alone; onboarding a tenant that already holds the users costs a constant handful of calls, and the next sync
 * makes none for users already equal and one PATCH per user that differs.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TenantState } from "../../local/auth0-emulator.js";
import { formatLastReconcile } from "../../cli/format-reconcile.js";
import { lastReconcile } from "../../functions/flows/run-status.js";
import { LocalEnvironment, runLocalPipeline, runLocalReconcile, type LocalReconcileOptions, type LocalRunOptions } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const N = 120;
const config = exampleConfigWith({ reconcile: { repair: true } });
const tenantFile = (state: string) => join(state, "tenant.json");
const readTenant = (state: string) => JSON.parse(readFileSync(tenantFile(state), "utf8")) as TenantState;
const byKey = (t: TenantState, key: string) => t.users.find((u) => u.app_metadata.sync_key === key);

/** Edits the tenant as someone in the Auth0 dashboard would (the emulator loads the file at its next start). */
function editTenant(state: string, edit: (t: TenantState) => void): void {
  const t = readTenant(state);
  edit(t);
  writeFileSync(tenantFile(state), JSON.stringify(t));
}

describe("reconcile: drift repair", () => {
  const dir = tempDir();
  const state = join(dir, "state");
  const csv = writeCsv(join(dir, "users.csv"), demoRows(N));
  const sync = (o: Partial<LocalRunOptions> = {}) => runLocalPipeline({ config, stateDir: state, csv, rate: 500, ...o });
  const reconcile = (o: Partial<LocalReconcileOptions> = {}) => runLocalReconcile({ config, stateDir: state, csv, rate: 500, ...o });

  it("a first sync creates the users", async () => {
    expect(await sync({ fresh: true })).toMatchObject({ created: N, unaccounted: 0 });
  }, 90_000);

  it("finds and repairs drift made in Auth0, and leaves alone what the sync does not own", async () => {
    const deletedId = byKey(readTenant(state), "c-0006")!.user_id;
    editTenant(state, (t) => {
      byKey(t, "c-0001")!.given_name = "Edited";
      const u2 = byKey(t, "c-0002")!;
      u2.user_metadata.plan = "free"; // owned
      u2.user_metadata.notes = "kept"; // not owned
      byKey(t, "c-0003")!.roles = ["editor", "viewer"]; // a role added
      byKey(t, "c-0004")!.roles = []; // the role removed
      byKey(t, "c-0005")!.blocked = true;
      t.users = t.users.filter((u) => u.user_id !== deletedId); // deleted behind the sync's back
      byKey(t, "c-0007")!.nickname = "not-mapped"; // a field the sync does not map
      byKey(t, "c-0008")!.app_metadata.tier = "platinum"; // createOnly: never repaired
    });

    const r = await reconcile();
    expect(r).toMatchObject({ usersInTenant: N - 1, managed: N, drifted: 6, missing: 1, repairsQueued: 6, adopted: 0, ambiguous: 0 });
    expect(r.repairOutcomes).toMatchObject({ updated: 5, created: 1, rejected: 0 });
    const fields = Object.fromEntries(r.drift.map((d) => [d.keyLabel, d.fields.map((f) => f.field).sort()]));
    expect(fields).toEqual({ "c-0001": ["given_name"], "c-0002": ["user_metadata.plan"], "c-0003": ["roles"], "c-0004": ["roles"], "c-0005": ["blocked"], "c-0006": [] });
    expect(r.drift.find((d) => d.keyLabel === "c-0001")?.fields[0]).toEqual({ field: "given_name", before: "Edited", after: "First1" });

    const t = readTenant(state);
    expect(byKey(t, "c-0001")?.given_name).toBe("First1");
    expect(byKey(t, "c-0002")?.user_metadata).toMatchObject({ plan: "pro", notes: "kept" });
    expect(byKey(t, "c-0003")?.roles).toEqual(["viewer"]);
    expect(byKey(t, "c-0004")?.roles).toEqual(["viewer"]);
    expect(byKey(t, "c-0005")?.blocked).toBe(false);
    expect(byKey(t, "c-0006")?.email).toBe("user6@example.com");
    expect(byKey(t, "c-0007")?.nickname).toBe("not-mapped");
    expect(byKey(t, "c-0008")?.app_metadata.tier).toBe("platinum");
    expect(t.users).toHaveLength(N);
  }, 120_000);

  it("the next reconcile finds no drift, and the next sync makes no Auth0 call", async () => {
    expect(await reconcile()).toMatchObject({ drifted: 0, repairsQueued: 0, inSync: N });
    expect(await sync()).toMatchObject({ unchanged: N, auth0Calls: 0, unaccounted: 0 });
  }, 120_000);

  it("with repair off it reports the drift and changes nothing", async () => {
    editTenant(state, (t) => void (byKey(t, "c-0010")!.family_name = "Edited"));
    const r = await reconcile({ repair: false });
    expect(r).toMatchObject({ drifted: 1, repairsQueued: 0 });
    expect(byKey(readTenant(state), "c-0010")?.family_name).toBe("Edited");
    const dry = await reconcile({ dryRun: true });
    expect(dry).toMatchObject({ drifted: 1, repairsQueued: 0 });
    expect(byKey(readTenant(state), "c-0010")?.family_name).toBe("Edited");
  }, 120_000);
});

describe("reconcile: repairs are queued, and counted applied as the consumers apply them (issue 24, point 10)", () => {
  const dir = tempDir();
  const state = join(dir, "state");
  const csv = writeCsv(join(dir, "users.csv"), demoRows(20));
  /** The last reconcile as `auth0-sync status` reads it from the state directory. */
  const lastReconcileOf = async () => {
    const env = await LocalEnvironment.start({ config, stateDir: state, csv });
    try {
      return await lastReconcile(env.ledgerFor!());
    } finally {
      await env.stop();
    }
  };

  it("stopped before its consumers ran, a reconcile says 3 repairs queued, 0 applied; the next one finds the drift again and applies it", async () => {
    await runLocalPipeline({ config, stateDir: state, csv, rate: 500, fresh: true });
    editTenant(state, (t) => ["c-0001", "c-0002", "c-0003"].forEach((k) => void (byKey(t, k)!.given_name = "Edited")));

    // The process stops once the repairs are queued (as a SIGKILL there would): the local queue ends with it.
    const killed = runLocalReconcile({ config, stateDir: state, csv, rate: 500, onRepairsQueued: () => Promise.reject(new Error("killed")) });
    await expect(killed).rejects.toThrow("killed");
    const stopped = await lastReconcileOf();
    expect(stopped).toMatchObject({ figures: { drifted: 3, repairsQueued: 3 }, repairOutcomes: {} });
    expect(formatLastReconcile(stopped)[0]).toMatch(/3 drifted, 0 adopted, 3 repairs queued, 0 applied; 3 not applied: still in the queue or the DLQ, or lost with a local run that stopped \(the next reconcile finds them again\)$/);
    expect(byKey(readTenant(state), "c-0001")?.given_name).toBe("Edited");

    // The next reconcile: queued 3, none applied while they wait in the queue; then the consumers apply them.
    let queued: Awaited<ReturnType<typeof lastReconcileOf>>;
    const r = await runLocalReconcile({ config, stateDir: state, csv, rate: 500, onRepairsQueued: async (_r, env) => void (queued = await lastReconcile(env.ledgerFor!())) });
    expect(r).toMatchObject({ drifted: 3, repairsQueued: 3, repairOutcomes: { updated: 3 } });
    expect(queued!).toMatchObject({ reconcileId: r.runId, figures: { repairsQueued: 3 }, repairOutcomes: {} });
    const done = await lastReconcileOf();
    expect(done).toMatchObject({ reconcileId: r.runId, repairOutcomes: { updated: 3 } });
    expect(formatLastReconcile(done)[0]).toMatch(/3 drifted, 0 adopted, 3 repairs queued, 3 applied$/);
    expect(byKey(readTenant(state), "c-0001")?.given_name).toBe("First1");
  }, 120_000);
});

describe("reconcile: onboarding a tenant that already holds the users", () => {
  const dir = tempDir();
  const csv = writeCsv(join(dir, "users.csv"), demoRows(N));
  const first = join(dir, "first");

  it("seeds an empty ledger from the export: the next sync costs 0 calls for equal users and 1 PATCH per user that differs", async () => {
    expect(await runLocalPipeline({ config, stateDir: first, csv, rate: 500, fresh: true })).toMatchObject({ created: N });
    // A new state directory with the tenant only: the ledger is empty (onboarding, or a lost ledger).
    const state = join(dir, "onboard");
    cpSync(tenantFile(first), tenantFile(state), { recursive: true });
    editTenant(state, (t) => {
      for (const k of ["c-0011", "c-0012", "c-0013"]) byKey(t, k)!.given_name = "Differs";
      // Two users without a sync key (created by hand): matched to their rows by email.
      for (const k of ["c-0021", "c-0022"]) delete byKey(t, k)!.app_metadata.sync_key;
    });

    const r = await runLocalReconcile({ config, stateDir: state, csv, rate: 500 });
    expect(r).toMatchObject({ usersInTenant: N, managed: 0, adopted: N, ambiguous: 0, repairsQueued: 0 });
    // A constant handful: the connection, the job, its polls, the roles and their members; no call per user.
    expect(r.auth0Calls).toBeLessThanOrEqual(15);

    const next = await runLocalPipeline({ config, stateDir: state, csv, rate: 500 });
    // One PATCH per user that differs: three names, and the two sync keys set.
    expect(next).toMatchObject({ rowsRead: N, updated: 5, unchanged: N - 5, created: 0, unaccounted: 0 });
    expect(next.auth0Calls).toBe(5);
    expect(byKey(readTenant(state), "c-0021")?.email).toBe("user21@example.com");
    expect(await runLocalPipeline({ config, stateDir: state, csv, rate: 500 })).toMatchObject({ unchanged: N, auth0Calls: 0 });
  }, 180_000);

  it("a key two Auth0 users carry is never guessed", async () => {
    const state = join(dir, "ambiguous");
    cpSync(tenantFile(first), tenantFile(state), { recursive: true });
    editTenant(state, (t) => {
      const twin = { ...byKey(t, "c-0020")!, user_id: "auth0|twin000000000000000000020", email: "twin20@example.com" };
      t.users.push(twin);
    });
    const r = await runLocalReconcile({ config, stateDir: state, csv, rate: 500 });
    expect(r).toMatchObject({ adopted: N - 1, ambiguous: 1 });
  }, 120_000);
});

describe("reconcile: an export longer than the function's time", () => {
  it("continues the same job across invocations, never starting a second one", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    const csv = writeCsv(join(dir, "users.csv"), demoRows(30));
    await runLocalPipeline({ config, stateDir: state, csv, rate: 500, fresh: true });
    let posts = 0;
    const r = await runLocalReconcile({
      config,
      stateDir: state,
      csv,
      rate: 500,
      functionTimeoutMs: 2_000,
      poll: { initialMs: 50, maxMs: 100 },
      onEnvironment: (env) => {
        env.emulator!.setExportJobSettings({ durationMs: 5_000 });
        const log = () => env.emulator!.requestLog.filter((e) => e.method === "POST" && e.route.includes("users-exports")).length;
        // Counted when the run ends (the emulator stays up until then).
        env.cleanups.push(() => Promise.resolve(void (posts = log())));
      },
    });
    expect(r.invocations).toBeGreaterThan(2);
    expect(posts).toBe(1);
    expect(r).toMatchObject({ usersInTenant: 30, inSync: 30 });
  }, 60_000);
});
