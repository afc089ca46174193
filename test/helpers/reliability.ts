/**
 * The reliability suites' shared scenario and checks (test/e2e/reliability-*.test.ts): every test ends with the same
 * three checks: the accounting adds up with 0 unaccounted, no Auth0 user exists twice (by email or by sync key), and
 * the tenant equals what the rows say.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { SyncConfig } from "../../functions/core/config.js";
import type { TenantState } from "../../local/auth0-emulator.js";
import { runLocalPipeline, type Chaos, type LocalEnvironment, type LocalRunSummary } from "../../local/pipeline.js";
import { tempDir } from "./tmp.js";
import { demoRows, exampleConfigWith, writeCsv, type Row } from "./demo-csv.js";

export const rowsOf = (n: number): Row[] => demoRows(n, (i) => (i % 3 === 0 ? "viewer,editor" : "viewer"));
export const configWith = exampleConfigWith;

export const tenantOf = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState;

/** The three checks. `rows` is the table as it now is; `extraUsers` users exist that the table does not name. */
export function expectConsistent(stateDir: string, rows: Row[], summaries: LocalRunSummary[], extraUsers = 0) {
  for (const s of summaries) {
    expect(s.unaccounted, `run ${s.runId}`).toBe(0);
    // Each row read has one outcome of these five; users absent from the table add blocked or deleted ones.
    expect(s.created + s.updated + s.unchanged + s.rejected + s.deadLettered, `run ${s.runId}`).toBe(s.rowsRead);
  }
  const users = tenantOf(stateDir).users;
  const emails = users.map((u) => String(u.email).toLowerCase());
  expect(new Set(emails).size, "a user exists twice by email").toBe(users.length);
  const keys = users.map((u) => u.app_metadata.sync_key).filter((k) => k !== undefined);
  expect(new Set(keys).size, "a user exists twice by sync key").toBe(keys.length);
  expect(users).toHaveLength(rows.length + extraUsers);
  const byKey = new Map(users.map((u) => [u.app_metadata.sync_key, u]));
  for (const r of rows) {
    const u = byKey.get(r.id);
    expect(u, r.id).toBeDefined();
    expect({ email: u!.email, given_name: u!.given_name, roles: u!.roles, blocked: u!.blocked ?? false }, r.id).toEqual({
      email: r.email,
      given_name: r.first,
      roles: r.roles.split(",").sort(),
      blocked: false,
    });
  }
}

export async function scenario(opts: { n?: number; config?: SyncConfig; chaos?: Chaos; failRate?: number; during?: (env: LocalEnvironment) => void; rate?: number }) {
  const dir = tempDir();
  const stateDir = join(dir, "state");
  const rows = rowsOf(opts.n ?? 150);
  const csv = writeCsv(join(dir, "users.csv"), rows);
  const summary = await runLocalPipeline({
    config: opts.config ?? configWith({ auth0: { maxRetries: 2 } }),
    stateDir,
    csv,
    rate: opts.rate ?? 300,
    failRate: opts.failRate,
    chaos: opts.chaos,
    onEnvironment: opts.during,
  });
  return { dir, stateDir, rows, csv, summary };
}
