/**
 * The local runner keeps its state whole: one process per state directory, inputs and state files checked before
 * anything changes (each refusal one sentence), and a Ctrl-C that really cancels and leaves a consistent state.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { describe, expect, it } from "vitest";
import type { TenantState } from "../../local/auth0-emulator.js";
import { LocalTarget } from "../../cli/targets/local.js";
import { LocalEnvironment, runLocalPipeline } from "../../local/pipeline.js";
import { LocalStateError } from "../../local/state-dir.js";
import { parseConfig } from "../../functions/core/config.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const config = exampleConfigWith();
const npmStart = (args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "local/start.ts"), ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, POWERTOOLS_LOG_LEVEL: "SILENT" } });
const users = (stateDir: string) => (JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState).users;
const tableRows = async (stateDir: string) => {
  const db = new PGlite(join(stateDir, "warehouse"));
  try {
    return (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM app_users")).rows[0]!.n;
  } finally {
    await db.close();
  }
};

describe("one process per state directory", () => {
  it("a second process refuses in one sentence while the first holds the directory; a dead holder's lock is taken over", async () => {
    const stateDir = join(tempDir(), "state");
    const csv = writeCsv(join(tempDir(), "users.csv"), demoRows(5));
    const env = await LocalEnvironment.start({ config, stateDir, csv });
    try {
      const other = npmStart(["--state", stateDir, "--fresh"]);
      expect(other.status).toBe(2);
      expect(other.stderr.trim()).toBe(`The state directory ${stateDir} is in use by another auth0-sync process (pid ${process.pid}): wait for it to finish, or use another --state.`);
      await expect(LocalEnvironment.start({ config, stateDir })).rejects.toThrow(
        new LocalStateError(`The state directory ${stateDir} is in use by another auth0-sync process (pid ${process.pid}, this one): wait for it to finish, or use another --state.`),
      );
      // The --fresh attempt changed nothing.
      expect(existsSync(join(stateDir, "warehouse"))).toBe(true);
    } finally {
      await env.stop();
    }
    // A holder killed without releasing: its lock names a process that no longer exists.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(join(stateDir, ".lock"), JSON.stringify({ pid: Number(dead.stdout) }));
    expect(await runLocalPipeline({ config, stateDir, rate: 500 })).toMatchObject({ rowsRead: 5, unaccounted: 0 });
    expect(existsSync(join(stateDir, ".lock"))).toBe(false);
  }, 60_000);
});

describe("two runs started together on one state directory", () => {
  it("one runs, the other is refused in one sentence (never a stack trace)", async () => {
    const stateDir = join(tempDir(), "state");
    const start = () =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "local/start.ts"), "--state", stateDir, "--rows", "20"], { cwd: ROOT, env: { ...process.env, POWERTOOLS_LOG_LEVEL: "SILENT" } });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (status) => resolve({ status, stderr }));
      });
    const results = await Promise.all([start(), start()]);
    const ran = results.filter((r) => r.status === 0);
    const refused = results.filter((r) => r.status !== 0);
    expect(ran, results.map((r) => r.stderr).join("\n---\n")).toHaveLength(1);
    expect(refused[0]!.status).toBe(2);
    expect(refused[0]!.stderr.trim()).toMatch(/^The state directory .* is in use by another auth0-sync process \(pid \d+\): wait for it to finish, or use another --state\.$/);
  }, 120_000);
});

describe("Ctrl-C on npm start", () => {
  it("cancels cleanly: the run reports interrupted, its record says so, and the next run completes the table", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = writeCsv(join(dir, "users.csv"), demoRows(150));
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "local/start.ts"), "--state", stateDir, "--csv", csv, "--rate", "20", "--json"], {
      cwd: ROOT,
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: "SILENT" },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      // Once users are being created (the emulated tenant's journal grows), Ctrl-C.
      const poll = setInterval(() => {
        if (existsSync(join(stateDir, "tenant.journal")) && readFileSync(join(stateDir, "tenant.journal"), "utf8").split("\n").length > 20) {
          clearInterval(poll);
          child.kill("SIGINT");
        }
      }, 100);
      child.on("close", (c) => (clearInterval(poll), resolve(c)));
    });
    const report = JSON.parse(out.trim()) as { status: string; created: number; unaccounted: number; runId: string; error: string };
    expect(report.status).toBe("interrupted");
    expect(report.unaccounted).toBeGreaterThan(0);
    expect(code).toBe(1);
    const [recorded] = (await new LocalTarget({ config, stateDir }).status({ runs: 1, sample: 0 })).runs;
    expect(recorded).toMatchObject({ runId: report.runId, status: "interrupted", error: report.error });
    const next = await runLocalPipeline({ config, stateDir, rate: 500 });
    expect(next).toMatchObject({ created: 150 - report.created, unaccounted: 0 });
    expect(users(stateDir)).toHaveLength(150);
  }, 120_000);
});

describe("one kind of sync per state directory", () => {
  it("a tenant copy on a warehouse sync's directory, and a warehouse sync on a copy's, are refused; --fresh starts over", async () => {
    const dir = tempDir();
    const copy = parseConfig(readFileSync(join(ROOT, "config/tenant-copy.yml"), "utf8"));
    const way = "add --fresh to start over, or give this sync its own --state DIR (and the same --state to auth0-sync --local).";
    const warehouseDir = join(dir, "warehouse-sync");
    await runLocalPipeline({ config, stateDir: warehouseDir, csv: writeCsv(join(dir, "u.csv"), demoRows(5)), rate: 500 });
    await expect(runLocalPipeline({ config: copy, stateDir: warehouseDir, seedRows: 5, rate: 500 })).rejects.toThrow(
      new LocalStateError(`${warehouseDir} holds a warehouse sync; a tenant copy there would mix its users with that sync's in one tenant: ${way}`),
    );
    expect(users(warehouseDir)).toHaveLength(5);
    // --fresh: the directory is the copy's now; then a warehouse sync there is refused the same way.
    expect(await runLocalPipeline({ config: copy, stateDir: warehouseDir, fresh: true, seedRows: 5, rate: 500 })).toMatchObject({ created: 5, unaccounted: 0 });
    await expect(runLocalPipeline({ config, stateDir: warehouseDir, rate: 500 })).rejects.toThrow(
      new LocalStateError(`${warehouseDir} holds a tenant copy; a warehouse sync there would mix its users with the copy's in one tenant: ${way}`),
    );
  }, 120_000);
});

describe("inputs and state checked before anything changes", () => {
  it("a missing CSV, --rows on an existing warehouse, a CSV the SQL cannot read, a half-seeded warehouse, a damaged DLQ file", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = writeCsv(join(dir, "users.csv"), demoRows(8));
    expect(await runLocalPipeline({ config, stateDir, csv, rate: 500 })).toMatchObject({ created: 8 });

    const missing = join(dir, "nope.csv");
    await expect(runLocalPipeline({ config, stateDir, csv: missing })).rejects.toThrow(new LocalStateError(`The CSV file ${missing} does not exist; nothing was changed.`));

    const rows = npmStart(["--state", stateDir, "--rows", "50"]);
    expect(rows.status).toBe(2);
    expect(rows.stderr.trim()).toBe(`--rows 50 seeds a new warehouse, but ${stateDir} already has one: add --fresh to start over with 50 rows, or leave --rows out.`);
    const fraction = npmStart(["--state", join(dir, "other"), "--rows", "1.5"]);
    expect(fraction.status).toBe(2);
    expect(fraction.stderr).toContain("--rows: expected a whole number from 1 to 5000000, got '1.5'");

    // A CSV without a column the SQL needs (avatar_url): refused, and the table keeps its 8 rows.
    const narrow = join(dir, "narrow.csv");
    writeFileSync(narrow, "customer_id,email,first_name\nc-1,a@example.com,Ann\n");
    await expect(runLocalPipeline({ config, stateDir, csv: narrow })).rejects.toThrow(
      new LocalStateError(`The CSV ${narrow} does not fit the config's SQL (column "last_name" does not exist); the warehouse is unchanged`),
    );
    expect(await tableRows(stateDir)).toBe(8);
    // A header naming a column twice: csv-parse would keep the last column's values and drop the other's unseen.
    const twice = join(dir, "twice.csv");
    writeFileSync(twice, `${readFileSync(csv, "utf8").split("\n")[0]},email\n`);
    await expect(runLocalPipeline({ config, stateDir, csv: twice })).rejects.toThrow(
      new LocalStateError(`The CSV ${twice} names the column 'email' twice in its header (columns 2 and 15): rename one; the warehouse is unchanged`),
    );
    expect(await tableRows(stateDir)).toBe(8);

    // A damaged DLQ file is named, with the way out; a --json run prints the error as JSON.
    writeFileSync(join(stateDir, "dlq.json"), "[{");
    const damaged = npmStart(["--state", stateDir, "--json"]);
    expect(damaged.status).toBe(2);
    expect(damaged.stderr.trim()).toMatch(new RegExp(`^${join(stateDir, "dlq.json").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} is not a valid local DLQ file \\(.+\\): restore it, delete it to lose what it holds, or start over with --fresh\\.$`));
    expect(JSON.parse(damaged.stdout)).toEqual({ error: damaged.stderr.trim() });
    rmSync(join(stateDir, "dlq.json"));

    // A first run stopped while seeding leaves a warehouse without its ready marker.
    const half = join(dir, "half");
    mkdirSync(join(half, "warehouse"), { recursive: true });
    await expect(runLocalPipeline({ config, stateDir: half })).rejects.toThrow(
      new LocalStateError(`The warehouse in ${join(half, "warehouse")} was not seeded to the end (a first run stopped while seeding?): start over with --fresh.`),
    );
  }, 120_000);
});

describe("Ctrl-C on a local run", () => {
  it("stops taking work, lets what is under way finish, and the next run completes the table exactly", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = demoRows(120);
    const csv = writeCsv(join(dir, "users.csv"), rows);
    // The warehouse loaded from the CSV, as a first `npm start -- --csv` would.
    await (await LocalEnvironment.start({ config, stateDir, csv })).stop();
    const target = new LocalTarget({ config, stateDir, rate: 20 });
    const ac = new AbortController();
    const first = await target.run({
      approveMirror: false,
      wait: true,
      timeoutSeconds: 600,
      signal: ac.signal,
      onProgress: (p) => p.phase === "consume" && p.done >= 20 && ac.abort(),
    });
    expect(first.status).toBe("interrupted");
    expect(first.created).toBeGreaterThanOrEqual(20);
    expect(first.created).toBeLessThan(120);
    expect(first.error).toBe(`cancelled (Ctrl-C): what was under way finished; ${first.unaccounted} users were not applied and go with the next run`);
    expect(users(stateDir)).toHaveLength(first.created);
    // The run's record says so too (it said "completed" with the users pending): status shows it interrupted.
    const [recorded] = (await target.status({ runs: 1, sample: 0 })).runs;
    expect(recorded).toMatchObject({ runId: first.runId, status: "interrupted", error: first.error });

    const second = await new LocalTarget({ config, stateDir, rate: 500 }).run({ approveMirror: false, wait: true, timeoutSeconds: 600 });
    expect(second).toMatchObject({ status: "completed", unaccounted: 0 });
    expect(second.created).toBe(120 - first.created);
    const tenant = users(stateDir);
    expect(tenant).toHaveLength(120);
    expect(new Set(tenant.map((u) => u.app_metadata.sync_key)).size).toBe(120);
  }, 120_000);
});

