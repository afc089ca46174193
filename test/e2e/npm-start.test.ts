import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const state = mkdtempSync(join(tmpdir(), "auth0-sync-start-"));
afterAll(() => rmSync(state, { recursive: true, force: true }));

function start(args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "local/start.ts", ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, POWERTOOLS_LOG_LEVEL: "" } });
}

describe("npm start", () => {
  it("prints the summary as one JSON object with the documented keys and exits 0", () => {
    const res = start(["--fresh", "--rows", "120", "--rate", "300", "--state", state, "--json"]);
    expect(res.status, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout.trim()) as Record<string, unknown>;
    for (const k of ["rowsRead", "created", "updated", "unchanged", "rejected", "deadLettered", "unaccounted", "auth0Calls", "auth0Status429", "elapsedMs"]) {
      expect(summary, k).toHaveProperty(k);
      expect(typeof summary[k], k).toBe("number");
    }
    expect(summary.unaccounted).toBe(0);
    expect(summary.created).toBeGreaterThan(100);
    // One shape with `auth0-sync run --json` (it nested the counts under `outcomes`): the same keys, the counts at the top.
    const run = spawnSync(process.execPath, ["--import", "tsx", "bin/auth0-sync.ts", "run", "--local", "--state", state, "--json"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    expect(Object.keys(report).filter((k) => report[k] !== undefined).sort()).toEqual(Object.keys(summary).filter((k) => !["syncMs", "sqsRequests", "consumerInstances"].includes(k)).sort());
    expect(report).toMatchObject({ status: "completed", unchanged: summary.created, created: 0, unaccounted: 0 });
  }, 240_000);

  it("shows the table, incremental on a second run, with plain progress lines when not a terminal", () => {
    const res = start(["--state", state, "--rate", "300"]);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^created\s+0$/m);
    expect(res.stdout).toMatch(/^unchanged\s+\d{3}$/m);
    expect(res.stdout).toMatch(/^unaccounted\s+0$/m);
    expect(res.stdout).toMatch(/^top reasons for rejection:/m);
    expect(res.stderr).toMatch(/^done\s+\d+\/\d+ \(100%\), \d+ s$/m);
    // A plain line is written when the counts move, never the same line over and over.
    const lines = res.stderr.split("\n").filter((l) => l.trim() !== "");
    expect(new Set(lines.map((l) => l.replace(/, \d+ s.*$/, ""))).size).toBe(lines.length);
    expect(res.stderr).not.toContain("\r");
    // No structured log lines unless --verbose.
    expect(res.stdout).not.toContain('"level"');
  }, 120_000);

  it("explains a bad option and a bad config", () => {
    const bad = start(["--fail-rate", "2"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--fail-rate: expected a number from 0 to 1, got '2'");
    const cfg = start(["--config", "does/not/exist.yml"]);
    expect(cfg.status).toBe(2);
    expect(cfg.stderr).toContain("Cannot read the config does/not/exist.yml");
  });
});
