/**
 * `auth0-sync plan --key K` says what a run does with that key's row, whatever it is: a change, a rejection (it
 * showed nothing for a rejected key: issue 24), unchanged, or no such row.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { PlanReport } from "../../cli/plan.js";
import { LocalEnvironment, runLocalPipeline } from "../../local/pipeline.js";
import { cli } from "../helpers/cli.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

describe("plan --key", () => {
  it("a rejected key, an unchanged one, a changed one, and one no row has", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    const config = exampleConfigWith();
    const configFile = join(dir, "sync.json");
    writeFileSync(configFile, JSON.stringify(config));
    const rows = demoRows(5);
    rows[1]!.email = "not-an-email";
    await runLocalPipeline({ config, stateDir: state, csv: writeCsv(join(dir, "a.csv"), rows), rate: 500 });
    // The warehouse changes: one row renamed.
    rows[2]!.first = "Renamed";
    await (await LocalEnvironment.start({ config, stateDir: state, csv: writeCsv(join(dir, "b.csv"), rows) })).stop();

    const plan = (key: string) => cli("plan", "--local", "--state", state, "--config", configFile, "--key", key);
    const rejected = await plan("c-0002");
    expect(rejected.code).toBe(0);
    expect(rejected.out).toContain("The row of key c-0002 is rejected:\n  row 2, key c-0002: email: is not a valid email address");
    expect((await plan("c-0001")).out).toContain("The row of key c-0001 is unchanged: Auth0 holds what it says (no call).");
    const changed = (await plan("c-0003")).out;
    expect(changed).toContain("Changes (for key c-0003):");
    expect(changed).toContain('given_name                   "First3" -> "Renamed"');
    expect((await plan("c-9999")).out).toContain("No row of the table has key c-9999 (or its row has no usable identity key).");
    const json = JSON.parse((await cli("plan", "--local", "--state", state, "--config", configFile, "--key", "c-0002", "--json")).out) as PlanReport;
    expect(json.forKey).toEqual({ key: "c-0002", keyLabel: "c-0002", verdict: "reject", rejections: ["row 2, key c-0002: email: is not a valid email address"] });
  }, 120_000);
});
