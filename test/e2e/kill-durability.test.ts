import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { Auth0Emulator, journalFileOf, type TenantState } from "../../local/auth0-emulator.js";
import { startDynamo } from "../../local/dynamo.js";
import { runLocalPipeline, type LocalRunSummary, type Progress } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const N = 200;

/** Runs the pipeline in a child process and kills it (SIGKILL) once `kill` says so on its progress. */
function runAndKill(stateDir: string, csv: string, kill: (p: Progress) => boolean): Promise<{ signal: NodeJS.Signals | null; lastDone: number }> {
  const script = new URL("../helpers/killable-run.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--import", "tsx", script, stateDir, csv, "40"], { stdio: ["ignore", "pipe", "pipe"] });
  let lastDone = 0;
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const p = JSON.parse(line) as Progress;
    if (p.phase === undefined) return;
    lastDone = p.done;
    if (child.exitCode === null && child.signalCode === null && kill(p)) child.kill("SIGKILL");
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => (signal ? resolve({ signal, lastDone }) : reject(new Error(`the run ended (code ${code}) before it was killed: ${stderr}`))));
  });
}

/** The tenant the next run will find (state file and journal), read from a copy so nothing is changed. */
function durableTenant(stateDir: string, scratch: string): TenantState {
  mkdirSync(scratch, { recursive: true });
  const file = join(stateDir, "tenant.json");
  for (const f of [file, journalFileOf(file)]) if (existsSync(f)) copyFileSync(f, join(scratch, f === file ? "tenant.json" : "tenant.journal"));
  const emu = new Auth0Emulator();
  emu.persistTo(join(scratch, "tenant.json"));
  return emu.state();
}

describe("a local run killed mid-consume (SIGKILL)", () => {
  it("loses no write the emulator acknowledged: the next runs make the tenant equal the table", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = demoRows(N);
    const csv = writeCsv(join(dir, "users.csv"), rows);
    const config = exampleConfigWith();

    // ---- a run killed once a fifth of the users are settled (rate 40: consuming takes about 10 s) ----
    const killed = await runAndKill(stateDir, csv, (p) => p.phase !== "done" && p.done >= N / 5 && p.done < N);
    expect(killed.signal).toBe("SIGKILL");

    // What survived the kill: the tenant (state file + journal) and the ledger, which the sync wrote after each
    // user's Auth0 write was answered.
    const before = durableTenant(stateDir, join(dir, "after-kill"));
    const dynamo = await startDynamo(join(stateDir, "ledger"));
    const recorded: string[] = [];
    try {
      for await (const e of new Ledger(dynamo.client, `auth0-sync-${config.name}-ledger`).users.all()) if (e.userId) recorded.push(e.userId);
    } finally {
      await dynamo.stop();
    }

    // ---- runs until one has nothing left to do ----
    const runs: LocalRunSummary[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await runLocalPipeline({ config, stateDir, rate: 300 });
      runs.push(r);
      if (r.created + r.updated === 0 && r.unaccounted === 0) break;
    }
    const last = runs.at(-1)!;
    expect(last).toMatchObject({ rowsRead: N, created: 0, updated: 0, unaccounted: 0, rejected: 0, deadLettered: 0 });

    // ---- the tenant equals the table: each row's user once, with its email and first name ----
    const users = (JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState).users;
    expect(new Set(users.map((u) => u.email)).size).toBe(users.length);
    expect(new Set(users.map((u) => u.app_metadata.sync_key)).size).toBe(users.length);
    const missing = rows.filter((r) => !users.some((u) => u.email === r.email));
    expect(missing.length, "rows whose user is missing from the tenant").toBe(0);
    for (const r of rows) {
      const u = users.filter((x) => x.app_metadata.sync_key === r.id);
      expect(u).toHaveLength(1);
      expect(u[0]).toMatchObject({ email: r.email, given_name: r.first });
    }
    expect(users).toHaveLength(N);
    expect(existsSync(journalFileOf(join(stateDir, "tenant.json")))).toBe(false);

    // ---- the kill was mid-consume, and every user the ledger recorded was in the tenant ----
    expect(killed.lastDone).toBeGreaterThanOrEqual(N / 5);
    expect(before.users.length).toBeGreaterThanOrEqual(killed.lastDone);
    expect(before.users.length).toBeLessThan(N);
    expect(recorded.length).toBeGreaterThan(0);
    const survived = new Set(before.users.map((u) => u.user_id));
    expect(recorded.filter((id) => !survived.has(id)), "users the ledger recorded that the tenant lost").toEqual([]);
    expect(runs[0]!.created).toBe(N - before.users.length);
  }, 90_000);
});
