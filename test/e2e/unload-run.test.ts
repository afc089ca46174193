/**
 * A run over an unloaded table through the local pipeline (source.extract: unload): the state machine's definition
 * executed with its Tasks bound to the real handlers, UNLOAD writing Parquet files to the local S3, one segment
 * worker per file. A first sync, an unchanged re-sync, mirror mode with a deleted row, and a segment worker that
 * crashes halfway and is retried: every row ends in one outcome and no user is created twice.
 */
import { join } from "node:path";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { runLocalPipeline } from "../../local/pipeline.js";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { startDynamo } from "../../local/dynamo.js";
import { writeCsv } from "../helpers/demo-csv.js";
import { configWith, expectConsistent, rowsOf, tenantOf } from "../helpers/reliability.js";
import { tempDir } from "../helpers/tmp.js";

const unloading = (over: Record<string, Record<string, unknown>> = {}) =>
  configWith({ ...over, source: { extract: "unload", unload: { iamRole: "default" }, ...over.source }, queue: { usersPerMessage: 5, ...over.queue } });

describe("a run over an unloaded table (UNLOAD, a Distributed Map of segment workers)", () => {
  it("a first sync in segments, then an unchanged re-sync that costs nothing", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(120);
    const csv = writeCsv(join(dir, "users.csv"), rows);
    const config = unloading();
    const first = await runLocalPipeline({ config, stateDir, csv, rate: 300, slices: 4 });
    expect(first).toMatchObject({ rowsRead: 120, created: 120, unaccounted: 0, segments: { done: 4, total: 4 } });
    expect(tenantOf(stateDir).users).toHaveLength(120);
    expectConsistent(stateDir, rows, [first]);
    // The run's record: its segments as status shows them, and the figures summed over them.
    const dynamo = await startDynamo(join(stateDir, "ledger"));
    try {
      const run = await new Ledger(dynamo.client, `auth0-sync-${config.name}-ledger`).runs.get(first.runId);
      expect(run).toMatchObject({ status: "completed", segments: { done: 4, total: 4 }, summary: { rowsRead: 120, enqueued: 120, segments: { done: 4, total: 4 } } });
    } finally {
      await dynamo.stop();
    }
    const again = await runLocalPipeline({ config, stateDir, rate: 300, slices: 4 });
    expect(again).toMatchObject({ rowsRead: 120, created: 0, updated: 0, unchanged: 120, unaccounted: 0, auth0Calls: 0, sqsRequests: 0 });
  }, 120_000);
});

describe("a run over an unloaded table, when things go wrong", () => {
  it("a segment worker crashes halfway (after its first send): the Map retries it; exact accounting, no user twice", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(90);
    const csv = writeCsv(join(dir, "users.csv"), rows);
    let sends = 0;
    let crashed = 0;
    // The first segment worker's second SendMessageBatch never returns: the worker dies as a SIGKILL would leave it.
    const segmentSqs = (sqs: SQSClient): SQSClient =>
      ({
        send: async (cmd: unknown) => {
          if (cmd instanceof SendMessageBatchCommand && ++sends === 2 && crashed === 0) {
            crashed++;
            throw Object.assign(new Error("the worker was killed"), { name: "Sandbox.Timedout" });
          }
          return sqs.send(cmd as never);
        },
      }) as unknown as SQSClient;
    const config = unloading({ source: { unload: { iamRole: "default", maxConcurrency: 1 } }, queue: { usersPerMessage: 1 } });
    const s = await runLocalPipeline({ config, stateDir, csv, rate: 300, slices: 3, chaos: { segmentSqs } });
    expect(crashed).toBe(1);
    expect(s).toMatchObject({ rowsRead: 90, created: 90, unaccounted: 0, segments: { done: 3, total: 3 } });
    const users = tenantOf(stateDir).users as { email: string }[];
    expect(users).toHaveLength(90);
    expect(new Set(users.map((u) => u.email)).size).toBe(90);
    expectConsistent(stateDir, rows, [s]);
  }, 120_000);

  it("mirror mode over the whole run: a row deleted from the table blocks its user, the others stay", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(60);
    const config = unloading({ mirror: { enabled: true, action: "block", threshold: { maxCount: 5, maxShare: 0.5 } } });
    await runLocalPipeline({ config, stateDir, csv: writeCsv(join(dir, "all.csv"), rows), rate: 300, slices: 3 });
    const gone = rows[37]!;
    const second = await runLocalPipeline({ config, stateDir, csv: writeCsv(join(dir, "less.csv"), rows.filter((r) => r !== gone)), rate: 300, slices: 3 });
    expect(second).toMatchObject({ rowsRead: 59, blocked: 1, unchanged: 59, unaccounted: 0 });
    const blocked = (tenantOf(stateDir).users as { email: string; blocked?: boolean }[]).filter((u) => u.blocked);
    expect(blocked.map((u) => u.email)).toEqual([gone.email]);
  }, 120_000);

  it("an UNLOAD that fails ends the run in the failure step: recorded failed with Redshift's error, the lock released", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = writeCsv(join(dir, "users.csv"), rowsOf(20));
    await runLocalPipeline({ config: unloading(), stateDir, csv, rate: 300 });
    const bad = unloading({ source: { sql: "SELECT customer_id, email, nope FROM app_users" } });
    await expect(runLocalPipeline({ config: bad, stateDir, rate: 300 })).rejects.toThrow(/^the UNLOAD statement failed: ERROR: column "nope" does not exist/);
    // The lock was released: the next run starts and completes.
    await expect(runLocalPipeline({ config: unloading(), stateDir, rate: 300 })).resolves.toMatchObject({ rowsRead: 20, unchanged: 20, unaccounted: 0 });
  }, 120_000);
});
