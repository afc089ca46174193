/**
 * Issue 27 through the local pipeline: new users through Auth0's bulk import jobs (docs/imports.md), against the
 * emulator's import jobs (built from Auth0's documentation: two active jobs, the errors endpoint and its codes, the
 * `auth0|` prefix, completion emails counted). What the tenant holds and which calls were made are read from the
 * emulator; what the ledger holds from the state directory's ledger.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Auth0Emulator, RequestLogEntry, TenantState } from "../../local/auth0-emulator.js";
import { runLocalPipeline, type LocalRunOptions, type LocalRunSummary } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv, type Row } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const tenant = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState;

interface Observed {
  summary: LocalRunSummary;
  log: readonly RequestLogEntry[];
  emulator: Auth0Emulator;
}

/** Runs the pipeline with the emulator's imports at `usersPerSecond`; `prepare` acts on the emulator first. */
async function run(opts: LocalRunOptions, usersPerSecond = 5000, prepare?: (e: Auth0Emulator) => void): Promise<Observed> {
  let emulator: Auth0Emulator | undefined;
  const summary = await runLocalPipeline({
    rate: 500,
    retryDelaySeconds: 0,
    ...opts,
    onEnvironment: (env) => {
      emulator = env.emulator;
      emulator!.setImportJobSettings({ usersPerSecond });
      prepare?.(emulator!);
    },
  });
  return { summary, log: emulator!.requestLog, emulator: emulator! };
}

const count = (log: readonly RequestLogEntry[], method: string, route: string) => log.filter((e) => e.method === method && e.route === route).length;
const IMPORTS = "/api/v2/jobs/users-imports";
const USERS = "/api/v2/users";

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
});


