/**
 * A run mirror mode holds (absent users over the threshold) says why and how to approve, and exits 3 (documented
 * in docs/operations.md) so a job that runs syncs notices: it exited 0 (issue 24).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_HELD, runExitCode } from "../../cli/runs.js";
import { LocalEnvironment, runLocalPipeline } from "../../local/pipeline.js";
import { cli } from "../helpers/cli.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

/** A mirror run (block, threshold 2 users or 50%) that synced 10 users: the next run over 5 rows is held. */
async function tenUsersMirrored() {
  const dir = tempDir();
  const state = join(dir, "state");
  const config = exampleConfigWith({ mirror: { enabled: true, action: "block", threshold: { maxCount: 2, maxShare: 0.5 } } });
  const configFile = join(dir, "sync.json");
  writeFileSync(configFile, JSON.stringify(config));
  await runLocalPipeline({ config, stateDir: state, csv: writeCsv(join(dir, "ten.csv"), demoRows(10)), rate: 500 });
  return { dir, state, config, configFile };
}

describe("a held run", () => {
  it("prints the reason and how to approve, and exits 3; approved, it goes through and exits 0", async () => {
    const { dir, state, config, configFile } = await tenUsersMirrored();
    // Half the table gone: 5 of 10 managed users absent, over maxCount 2.
    await (await LocalEnvironment.start({ config, stateDir: state, csv: writeCsv(join(dir, "five.csv"), demoRows(5)) })).stop();

    const held = await cli("run", "--local", "--state", state, "--config", configFile);
    expect(held.code).toBe(EXIT_HELD);
    expect(held.out).toMatch(/^status\s+held$/m);
    expect(held.out).toContain(
      "Held: 5 of 10 managed users (50.0%) are absent; the threshold is 2 users or 50.0%. Nothing was blocked or deleted: if the table is right, approve with 'auth0-sync run --approve-mirror' (or mirror.approve: true).",
    );
    const json = await cli("run", "--local", "--state", state, "--config", configFile, "--json");
    expect(json.code).toBe(EXIT_HELD);
    expect(JSON.parse(json.out)).toMatchObject({ status: "held", heldReason: expect.stringContaining("--approve-mirror") });

    const approved = await cli("run", "--local", "--state", state, "--config", configFile, "--approve-mirror");
    expect(approved.code, approved.out).toBe(0);
    expect(approved.out).toMatch(/^blocked\s+5$/m);
  }, 120_000);

  it("npm start on a held run prints the reason and exits 3 too (issue 24, point 12)", async () => {
    const { dir, state, configFile } = await tenUsersMirrored();
    const start = new URL("../../local/start.ts", import.meta.url).pathname;
    const res = spawnSync(process.execPath, ["--import", "tsx", start, "--state", state, "--config", configFile, "--csv", writeCsv(join(dir, "five.csv"), demoRows(5))], { encoding: "utf8", timeout: 120_000 });
    expect(res.status, res.stderr).toBe(EXIT_HELD);
    expect(res.stdout).toMatch(/^status\s+held$/m);
    expect(res.stdout).toContain("Held: 5 of 10 managed users (50.0%) are absent");
  }, 120_000);

  it("the exit codes: 0 completed, 1 failed/skipped/interrupted/timed out/users unaccounted, 3 held", () => {
    expect(runExitCode({ status: "completed", unaccounted: 0 })).toBe(0);
    expect(runExitCode({ status: "running", unaccounted: 10 })).toBe(0);
    expect(runExitCode({ status: "held", unaccounted: 0 })).toBe(3);
    expect(runExitCode({ status: "held", unaccounted: 2 })).toBe(1);
    // Interrupted after its first page with every user read settled: it stopped reading, so never success.
    for (const status of ["failed", "skipped", "interrupted", "timed out"] as const) expect(runExitCode({ status, unaccounted: 0 })).toBe(1);
  });
});
