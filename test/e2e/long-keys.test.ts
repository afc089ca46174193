/**
 * An identity key too long for the ledger (DynamoDB refuses a key over 2,048 bytes) is rejected with its row up
 * front (`key_too_long`), every run, instead of failing at every delivery into the DLQ; and `status` keeps working
 * whatever the DLQ and the ledger hold (issue 24: status crashed with DynamoDB's raw message).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_IDENTITY_KEY_BYTES } from "../../functions/core/ledger-keys.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";
import { cli } from "../helpers/cli.js";

const config = exampleConfigWith();

describe("identity keys longer than the ledger can hold", () => {
  const dir = tempDir();
  const state = join(dir, "state");
  const long = `c-${"k".repeat(3000)}`;
  // 2-byte characters: short in characters, over the limit in bytes.
  const wide = `c-${"é".repeat(MAX_IDENTITY_KEY_BYTES / 2)}`;
  const rows = [...demoRows(4), { id: long, email: "long@example.com", first: "Long", roles: "viewer" }, { id: wide, email: "wide@example.com", first: "Wide", roles: "viewer" }];
  const csv = writeCsv(join(dir, "users.csv"), rows);

  it("are rejected with their row and field at every run, never dead-lettered", async () => {
    for (let run = 0; run < 2; run++) {
      const s = await runLocalPipeline({ config, stateDir: state, csv, rate: 500 });
      expect(s).toMatchObject({ rowsRead: 6, rejected: 2, deadLettered: 0, unaccounted: 0 });
      expect(s.topReasons).toEqual([{ code: "key_too_long", count: 2 }]);
      expect(s.rejections).toEqual([
        `row 5: customer_id: is 3002 bytes; an identity key may have at most ${MAX_IDENTITY_KEY_BYTES} bytes (UTF-8)`,
        `row 6: customer_id: is ${Buffer.byteLength(wide)} bytes; an identity key may have at most ${MAX_IDENTITY_KEY_BYTES} bytes (UTF-8)`,
      ]);
    }
  }, 120_000);

  it("status works with a DLQ message carrying such a key (from an older version)", async () => {
    const op = { kind: "sync", row: 5, keyLabel: long, fingerprint: "f", desired: { key: long, email: "long@example.com", fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] } };
    writeFileSync(join(state, "dlq.json"), JSON.stringify([{ body: JSON.stringify({ v: 1, runId: "run-old", ops: [op] }) }]));
    const configFile = join(dir, "sync.json");
    writeFileSync(configFile, JSON.stringify(config));
    const r = await cli("status", "--local", "--state", state, "--config", configFile);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("DLQ             1 message");
    expect(r.out).toContain("run-old  1 user\n");
    // The key cannot be in the ledger: read as absent, not a failed read.
    expect(r.out).toContain("no failure recorded in the ledger");
  }, 60_000);
});
