/**
 * The Data API's 500 MB result limit, met through the local pipeline (the emulator's limit lowered so a few rows
 * meet it): the run fails in one sentence that says what to configure, before any user is sent, and the ledger
 * records the run failed with that sentence.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { startDynamo } from "../../local/dynamo.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { writeCsv } from "../helpers/demo-csv.js";
import { configWith, rowsOf, tenantOf } from "../helpers/reliability.js";
import { tempDir } from "../helpers/tmp.js";

describe("the Data API's result limit", () => {
  it("a result over it fails the run in one sentence naming source.unload; no user is written, the run is recorded failed", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = writeCsv(join(dir, "users.csv"), rowsOf(40));
    const config = configWith({});
    const run = runLocalPipeline({ config, stateDir, csv, rate: 300, chaos: { dataApiResultLimitBytes: 2_000 } });
    await expect(run).rejects.toThrow(
      /^The query's result is \d+ KB \(40 rows\), more than the Redshift Data API's 500 MB limit: configure source\.unload \(at least iamRole\) so Redshift writes it to S3 with UNLOAD \(docs\/scaling\.md\)\.$/,
    );
    expect(tenantOf(stateDir).users).toHaveLength(0);
    const dynamo = await startDynamo(join(stateDir, "ledger"));
    try {
      const [last] = await new Ledger(dynamo.client, `auth0-sync-${config.name}-ledger`).runs.latest(1);
      expect(last).toMatchObject({ status: "failed", error: expect.stringMatching(/^The query's result is .* UNLOAD \(docs\/scaling\.md\)\.$/) });
    } finally {
      await dynamo.stop();
    }
    // Below the limit the same table syncs.
    await expect(runLocalPipeline({ config, stateDir, rate: 300 })).resolves.toMatchObject({ rowsRead: 40, created: 40, unaccounted: 0 });
  }, 120_000);
});
