/**
 * `npm run warehouse -- "SQL"` changes the local warehouse between runs (the newcomer's way to play a table
 * changing, which docs/operations.md only described), and with the example's ORDER BY the rows keep their numbers
 * from one read to the next: a plan after an UPDATE names the same rows as the run before it (issue 24: they moved).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import type { PlanReport } from "../../cli/plan.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const warehouse = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "local/warehouse-cli.ts"), ...args], { cwd: ROOT, encoding: "utf8" });

describe("npm run warehouse", () => {
  it("changes the table; the plan then shows the change on the row's own number, the rejections on theirs", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    const config = parseConfig(readFileSync(join(ROOT, "config/example.yml"), "utf8"));
    const configFile = join(dir, "sync.json");
    writeFileSync(configFile, JSON.stringify(config));
    const run = await runLocalPipeline({ config, stateDir: state, seedRows: 300, rate: 500 });
    expect(run.rejections.length).toBeGreaterThan(3);

    const update = warehouse("--state", state, "UPDATE app_users SET last_name = 'Okafor-Smith' WHERE customer_id IN ('c-000012', 'c-000013')");
    expect(update.stderr).toBe("");
    expect(update.stdout).toBe("2 rows changed\n");
    const select = warehouse("--state", state, "SELECT customer_id, last_name FROM app_users WHERE customer_id = 'c-000012'");
    expect(select.stdout).toBe("customer_id  last_name\nc-000012     Okafor-Smith\n(1 row)\n");

    const plan = JSON.parse((await cli("plan", "--local", "--state", state, "--config", configFile, "--json")).out) as PlanReport;
    expect(plan.counts.update).toBe(2);
    expect(plan.changes.map((c) => [c.keyLabel, c.row])).toEqual([
      ["c-000012", 12],
      ["c-000013", 13],
    ]);
    // Updated rows move to the end of an unordered scan: without ORDER BY these numbers changed.
    expect(plan.rejections).toEqual(run.rejections);
  }, 180_000);

  it("refuses without a warehouse, and says what the warehouse refused", () => {
    const missing = warehouse("--state", join(tempDir(), "none"), "SELECT 1");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^No local warehouse in .*: run 'npm start' first/);
    expect(warehouse("--state", join(tempDir(), "none")).status).toBe(2);
  });
});
