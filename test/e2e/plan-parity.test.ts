/**
 * `auth0-sync plan` and a run take the same decision for every user (both run core/decide.ts): the plan's kind of
 * each key is what the run then does with it. Through the local pipeline, on a tenant and ledger prepared so that
 * every kind of decision occurs.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { OutcomeEvent } from "../../functions/core/outcomes.js";
import type { TenantState, TenantUser } from "../../local/auth0-emulator.js";
import { LocalTarget } from "../../cli/targets/local.js";
import { LocalEnvironment, runLocalPipeline } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv, type Row } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const stranger = (email: string, app_metadata: Record<string, string> = {}): TenantUser => ({
  user_id: `auth0|${Buffer.from(email).toString("hex").slice(0, 24)}`,
  connection: "Username-Password-Authentication",
  email,
  email_verified: true,
  given_name: "Someone",
  user_metadata: {},
  app_metadata,
  created_at: new Date().toISOString(),
  updated_at: new Date().toISOString(),
  hasPassword: true,
  roles: [],
});

describe("plan and run decide alike", () => {
  it("each key's planned kind is the run's outcome: create, update (changed, adopted, unblocked), unchanged, reject (unknown role, identity conflict)", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    const config = exampleConfigWith({ mirror: { enabled: true, action: "block", threshold: { maxCount: 100, maxShare: 0.9 } } });
    const base = demoRows(6);
    await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, base), rate: 500 });
    // c-0004 leaves the table: mirror mode blocks it; it comes back below.
    expect(await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, base.filter((r) => r.id !== "c-0004")), rate: 500 })).toMatchObject({ blocked: 1 });
    const tenantFile = join(stateDir, "tenant.json");
    const tenant = JSON.parse(readFileSync(tenantFile, "utf8")) as TenantState;
    tenant.users.push(stranger("adopt@example.com"), stranger("other@example.com", { sync_key: "someone-else" }));
    writeFileSync(tenantFile, JSON.stringify(tenant));

    const rows: Row[] = [
      ...base.map((r) => (r.id === "c-0002" ? { ...r, first: "Renamed" } : r.id === "c-0003" ? { ...r, roles: "ghost" } : r)),
      { id: "c-0007", email: "user7@example.com", first: "First7", roles: "viewer" },
      { id: "c-0008", email: "adopt@example.com", first: "First8", roles: "viewer" },
      { id: "c-0009", email: "other@example.com", first: "First9", roles: "viewer" },
    ];
    // The warehouse takes the new rows (no sync yet).
    await (await LocalEnvironment.start({ config, stateDir, csv: writeCsv(csv, rows) })).stop();

    const plan = await new LocalTarget({ config, stateDir, rate: 500 }).plan({ maxLookups: 100 });
    const planned = new Map<string, string>();
    for (const c of plan.changes) planned.set(c.keyLabel, c.kind);
    // "row 3, key c-0003: roles: unknown role: ..." -> c-0003 -> "reject: roles: unknown role: ..."
    for (const r of plan.rejections) planned.set(/key ([^:,]+)/.exec(r)![1]!, `reject: ${r.split(": ").slice(1).join(": ")}`);
    const outcomes: OutcomeEvent[] = [];
    await runLocalPipeline({ config, stateDir, rate: 500, onOutcome: (e) => void outcomes.push(e) });
    const ran = new Map<string, string>();
    for (const e of outcomes) {
      const kind = { created: "create", updated: "update", unchanged: "unchanged", blocked: "block", deleted: "delete", rejected: "reject", deadLettered: "dead-lettered" }[e.outcome];
      ran.set(e.keyLabel ?? e.key, e.outcome === "rejected" ? `reject: ${e.rejection!.field}: ${e.rejection!.reason}` : kind);
    }
    const keys = rows.map((r) => r.id);
    const planOf = (k: string) => planned.get(k) ?? "unchanged";
    expect(Object.fromEntries(keys.map((k) => [k, planOf(k)]))).toEqual({
      "c-0001": "unchanged",
      "c-0002": "update",
      "c-0003": "reject: roles: unknown role: ghost (not defined in the tenant)",
      "c-0004": "update",
      "c-0005": "unchanged",
      "c-0006": "unchanged",
      "c-0007": "create",
      "c-0008": "update",
      "c-0009": "reject: email: the Auth0 user with this email is synced under another identity key",
    });
    expect(Object.fromEntries(keys.map((k) => [k, ran.get(k)]))).toEqual(Object.fromEntries(keys.map((k) => [k, planOf(k)])));
  }, 120_000);
});
