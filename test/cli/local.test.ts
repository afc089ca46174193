import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { consumerBudget } from "../../functions/core/budget.js";
import type { TenantState } from "../../local/auth0-emulator.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { cli } from "../helpers/cli.js";
import type { PlanReport } from "../../cli/plan.js";
import type { ReconcileReport, RedriveReport, RunReport, StatusReport } from "../../cli/targets/target.js";
import { tempDir } from "../helpers/tmp.js";

const example = readFileSync(new URL("../../config/example.yml", import.meta.url), "utf8");
const HEADER = "customer_id,email,first_name,last_name,phone,avatar_url,plan,tier,preferences,roles,orgs,org_roles,is_blocked,status";
const N = 30;


const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("auth0-sync --local: plan, run, status and redrive on the local pipeline's state", () => {
  const dir = tempDir();
  const state = join(dir, "state");
  const csv = join(dir, "users.csv");
  writeFileSync(csv, [HEADER, ...Array.from({ length: N }, (_, i) => `c-${String(i + 1).padStart(4, "0")},user${i + 1}@example.com,First${i + 1},Last,,,pro,gold,,"viewer",,,false,active`)].join("\n"));
  const raw = JSON.parse(JSON.stringify(parseConfig(example))) as Record<string, Record<string, unknown>>;
  const config = parseConfig(JSON.stringify({ ...raw, queue: { ...raw.queue, usersPerMessage: 5, maxReceiveCount: 5 }, auth0: { ...raw.auth0, maxRetries: 0 } }));
  // Fewer users than a full SendMessageBatch: spread over one message per consumer instance (at most 10) at the
  // rate the failing run below uses.
  const instances = consumerBudget({ auth0: { ...config.auth0, rateLimit: { requestsPerSecond: 500, burst: 500 } } }).maxConcurrency;
  const perMessage = Math.min(5, Math.ceil(N / Math.min(10, instances)));
  const MESSAGES = Math.ceil(N / perMessage);
  const configFile = join(dir, "sync.json");
  writeFileSync(configFile, JSON.stringify(config));
  const local = ["--local", "--state", state, "--config", configFile, "--json"];

  it("refuses status and redrive on a state directory that does not exist, in one sentence", async () => {
    const r = await cli("status", ...local);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`No local state in ${state}. Run 'npm start' or 'auth0-sync run --local' first, or point --state at it.\n`);
    // --json: the same sentence as one JSON object on stdout.
    expect(JSON.parse(r.out)).toEqual({ error: `No local state in ${state}. Run 'npm start' or 'auth0-sync run --local' first, or point --state at it.` });
    // plan refuses a missing (or mistyped) state directory the same way, instead of creating a demo state in it.
    const plan = await cli("plan", ...local);
    expect(plan.code).toBe(2);
    expect(plan.err).toBe(r.err);
    expect(existsSync(state)).toBe(false);
  });

  it("status shows a run whose every message ended in the DLQ, with the failure reasons, without consuming them", async () => {
    // Every Auth0 answer is a 5xx: each message fails five times, then SQS moves it to the DLQ.
    const failed = await runLocalPipeline({ config, stateDir: state, csv, rate: 500, failRate: 1 });
    expect(failed).toMatchObject({ rowsRead: N, deadLettered: N, created: 0, unaccounted: 0 });

    for (let i = 0; i < 2; i++) {
      const r = await cli("status", ...local);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.out) as StatusReport;
      expect(s.runs[0]).toMatchObject({ runId: failed.runId, status: "completed" });
      expect(s.dlq.visible).toBe(MESSAGES);
      expect(s.dlqSample).toHaveLength(5);
      for (const m of s.dlqSample) {
        expect(m).toMatchObject({ runId: failed.runId, users: perMessage });
        expect(m.reasons.length).toBeGreaterThan(0);
        expect(m.reasons[0]).toMatch(/^row \d+: .*Auth0 answered 5\d\d/);
        expect(m.reasons.join(" ")).not.toMatch(/@example\.com/);
      }
    }
    const text = await cli("status", "--local", "--state", state, "--config", configFile);
    expect(text.out).toContain(`DLQ             ${MESSAGES} messages`);
    expect(text.out).toContain("read without consuming them");
  });

  it("plan reads the warehouse, the ledger and the tenant and writes nothing", async () => {
    const before = { tenant: sha(join(state, "tenant.json")), dlq: sha(join(state, "dlq.json")) };
    const r = await cli("plan", ...local, "--all");
    expect(r.code).toBe(0);
    const p = JSON.parse(r.out) as PlanReport;
    expect(p.counts).toEqual({ create: N, update: 0, unchanged: 0, reject: 0, block: 0, delete: 0 });
    expect(p.lookups).toBe(N);
    expect(p.changes).toHaveLength(N);
    expect(p.changes[0]).toMatchObject({ kind: "create", row: 1, keyLabel: "c-0001" });
    expect(p.changes[0]!.fields).toContainEqual({ field: "email", after: "u***@example.com" });
    expect(p.changes[0]!.fields).toContainEqual({ field: "given_name", after: "First1" });
    expect({ tenant: sha(join(state, "tenant.json")), dlq: sha(join(state, "dlq.json")) }).toEqual(before);
    // The columns the config does not name, which a run sends to user_metadata (unmappedColumns: user_metadata).
    expect(p.unmappedColumns).toEqual([]);
    const { "user_metadata.plan": _plan, ...mapping } = config.mapping;
    const withoutPlan = join(dir, "sync-without-plan.json");
    writeFileSync(withoutPlan, JSON.stringify({ ...config, mapping }));
    expect((await cli("plan", "--local", "--state", state, "--config", withoutPlan)).out).toContain(
      "\nUnmapped columns, written to user_metadata under their own names (unmappedColumns: user_metadata): plan\n",
    );
    const status = JSON.parse((await cli("status", ...local)).out) as StatusReport;
    expect(status.runs).toHaveLength(1);
  });

  it("redrive --dry-run counts; redrive moves every message back, the consumers process them, the DLQ is empty", async () => {
    const dry = await cli("redrive", ...local, "--dry-run");
    expect(JSON.parse(dry.out)).toEqual({ messages: MESSAGES, dryRun: true });
    expect((JSON.parse((await cli("status", ...local)).out) as StatusReport).dlq.visible).toBe(MESSAGES);

    const r = await cli("redrive", ...local);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as RedriveReport;
    expect(rep).toMatchObject({ messages: MESSAGES, dryRun: false, progress: { status: "COMPLETED", moved: MESSAGES }, processed: { created: N }, left: 0 });
    const tenant = JSON.parse(readFileSync(join(state, "tenant.json"), "utf8")) as TenantState;
    expect(tenant.users).toHaveLength(N);
    expect(new Set(tenant.users.map((u) => u.email)).size).toBe(N);

    const s = JSON.parse((await cli("status", ...local)).out) as StatusReport;
    expect(s.dlq.visible).toBe(0);
    // The redriven users count for the run they came from.
    expect(s.runs[0]?.counts).toMatchObject({ created: N });

    const again = await cli("redrive", ...local);
    expect(again.code).toBe(2);
    expect(again.err).toBe("The DLQ has no messages to move\n");
  });

  it("plan shows the field-level change of one key after the warehouse changes; run applies it", async () => {
    const db = new PGlite(join(state, "warehouse"));
    await db.query("UPDATE app_users SET first_name = 'Renamed' WHERE customer_id = 'c-0007'");
    await db.close();

    const p = JSON.parse((await cli("plan", ...local, "--key", "c-0007")).out) as PlanReport;
    expect(p.counts).toMatchObject({ create: 0, update: 1, unchanged: N - 1 });
    expect(p.lookups).toBe(0);
    // (The updated row comes last from the warehouse now: its row number changed.)
    expect(p.changes).toEqual([{ kind: "update", row: expect.any(Number), keyLabel: "c-0007", basis: "ledger", fields: [{ field: "given_name", before: "First7", after: "Renamed" }] }]);
    const text = await cli("plan", "--local", "--state", state, "--config", configFile);
    expect(text.out).toMatch(/update\s+row \d+\s+key c-0007\n\s+given_name\s+"First7" -> "Renamed"/);

    const run = await cli("run", ...local);
    expect(run.code).toBe(0);
    const rep = JSON.parse(run.out) as RunReport;
    expect(rep).toMatchObject({ status: "completed", rowsRead: N, unaccounted: 0, updated: 1, unchanged: N - 1 });
    expect(rep.auth0Calls).toBe(1);
  });

  it("reconcile prints the drift by user and field, repairs it, and status shows the last reconcile", async () => {
    const tenantFile = join(state, "tenant.json");
    const t = JSON.parse(readFileSync(tenantFile, "utf8")) as TenantState;
    t.users.find((u) => u.app_metadata.sync_key === "c-0009")!.given_name = "Edited";
    writeFileSync(tenantFile, JSON.stringify(t));

    const dry = await cli("reconcile", "--local", "--state", state, "--config", configFile, "--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/dry run: nothing written, nothing repaired[\s\S]*1 drifted[\s\S]*c-0009 \(auth0\|[0-9a-f]+\) - not repaired\n\s+given_name: "Edited" -> "First9"/);

    const r = await cli("reconcile", ...local);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as ReconcileReport;
    expect(rep).toMatchObject({ state: "completed", usersInTenant: N, managed: N, drifted: 1, repairsQueued: 1, adopted: 0, repairOutcomes: { updated: 1 } });
    expect(rep.state === "completed" && rep.auth0Calls).toBeGreaterThan(0);
    const after = JSON.parse(readFileSync(tenantFile, "utf8")) as TenantState;
    expect(after.users.find((u) => u.app_metadata.sync_key === "c-0009")?.given_name).toBe("First9");

    const s = JSON.parse((await cli("status", ...local)).out) as StatusReport;
    expect(s.lastReconcile).toMatchObject({ reconcileId: rep.state === "completed" ? rep.runId : "", figures: { drifted: 1, repairsQueued: 1 }, repairOutcomes: { updated: 1 }, drift: [{ keyLabel: "c-0009", kind: "drifted", repaired: true, fields: [{ field: "given_name", before: "Edited", after: "First9" }] }] });
    expect((await cli("status", "--local", "--state", state, "--config", configFile)).out).toMatch(/Last reconcile {2}reconcile-\S+, .* UTC: 30 users, 1 drifted, 0 adopted, 1 repair queued, 1 applied\n {2}c-0009: given_name/);
  });
});

describe("auth0-sync redrive --execution --local: a failed run over an unloaded table resumed where it failed", () => {
  const dir = tempDir();
  const state = join(dir, "state");
  const csv = join(dir, "users.csv");
  writeFileSync(csv, [HEADER, ...Array.from({ length: 12 }, (_, i) => `c-${String(i + 1).padStart(4, "0")},user${i + 1}@example.com,First${i + 1},Last,,,pro,gold,,"viewer",,,false,active`)].join("\n"));
  const raw = JSON.parse(JSON.stringify(parseConfig(example))) as Record<string, Record<string, unknown>>;
  const configFile = join(dir, "sync.json");
  writeFileSync(configFile, JSON.stringify({ ...raw, source: { ...raw.source, extract: "unload", unload: { iamRole: "default" } } }));
  const local = ["--local", "--state", state, "--config", configFile, "--json"];

  it("the UNLOAD fails (a column renamed away), the column comes back, the redrive completes the same run", async () => {
    await runLocalPipeline({ config: parseConfig(readFileSync(configFile, "utf8")), stateDir: state, csv, rate: 200 });
    const none = await cli("redrive", "--execution", ...local);
    expect(none.code).toBe(2);
    expect(none.err).toContain("There is no failed execution to redrive");

    const rename = async (from: string, to: string) => {
      const db = new PGlite(join(state, "warehouse"));
      await db.query(`ALTER TABLE app_users RENAME COLUMN ${from} TO ${to}`);
      await db.close();
    };
    await rename("first_name", "given");
    const failed = await cli("run", ...local);
    expect(failed.code).not.toBe(0);
    expect(failed.err).toMatch(/the UNLOAD statement failed: .*first_name/);
    const runId = (JSON.parse((await cli("status", ...local)).out) as StatusReport).runs[0]!.runId;

    await rename("given", "first_name");
    const r = await cli("redrive", "--execution", runId, ...local);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ runId, status: "completed", rowsRead: 12, unchanged: 12, unaccounted: 0, auth0Calls: 0, segments: { done: 2, total: 2 } });
    expect((JSON.parse((await cli("status", ...local)).out) as StatusReport).runs[0]).toMatchObject({ runId, status: "completed" });
  }, 120_000);
});
