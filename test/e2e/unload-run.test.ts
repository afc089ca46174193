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
import { recordUnaccounted } from "../../functions/core/runs.js";
import { writeCsv } from "../helpers/demo-csv.js";
import { configWith, expectConsistent, rowsOf, tenantOf } from "../helpers/reliability.js";
import { tempDir } from "../helpers/tmp.js";

/** A run's users without an outcome by its ledger record (what `status` reports): the consumers' counts and the extract's. */
async function recordedUnaccounted(stateDir: string, configName: string, runId: string): Promise<number> {
  const dynamo = await startDynamo(join(stateDir, "ledger"));
  try {
    const run = await new Ledger(dynamo.client, `auth0-sync-${configName}-ledger`).runs.get(runId);
    return run?.summary ? recordUnaccounted(run) : -1;
  } finally {
    await dynamo.stop();
  }
}

/** The segment workers' SQS client, whose n-th SendMessageBatch (from 1, over all workers) fails with the error given. */
function failingSends(failure: (n: number) => Error | undefined): (sqs: SQSClient) => SQSClient {
  let sends = 0;
  return (sqs) =>
    ({
      send: async (cmd: unknown) => {
        const error = cmd instanceof SendMessageBatchCommand ? failure(++sends) : undefined;
        if (error) throw error;
        return sqs.send(cmd as never);
      },
    }) as unknown as SQSClient;
}

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
    let crashed = 0;
    // The first segment worker's second SendMessageBatch never returns: the worker dies as a SIGKILL would leave it.
    const segmentSqs = failingSends((n) => {
      if (n !== 2 || crashed > 0) return undefined;
      crashed++;
      return Object.assign(new Error("the worker was killed"), { name: "Sandbox.Timedout" });
    });
    const config = unloading({ source: { unload: { iamRole: "default", maxConcurrency: 1 } }, queue: { usersPerMessage: 1 } });
    const s = await runLocalPipeline({ config, stateDir, csv, rate: 300, slices: 3, chaos: { segmentSqs } });
    expect(crashed).toBe(1);
    expect(s).toMatchObject({ rowsRead: 90, unaccounted: 0, segments: { done: 3, total: 3 } });
    // Each user once. (A user sent twice whose two deliveries raced is counted once, under the outcome of the
    // delivery that settled it first: the one that created it, or the one that found it created, 'updated'.)
    expect(s.created + s.updated + s.unchanged).toBe(90);
    const users = tenantOf(stateDir).users as { email: string }[];
    expect(users).toHaveLength(90);
    expect(new Set(users.map((u) => u.email)).size).toBe(90);
    expectConsistent(stateDir, rows, [s]);
    // The run's record too: the users the retried worker sent again are not counted again (unchanged) by it.
    expect(await recordedUnaccounted(stateDir, config.name, s.runId)).toBe(0);
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

describe("extract: auto with UNLOAD configured: the query measured first, its result read where it fits", () => {
  const measured = (autoDataApiMaxMb?: number) => configWith({ source: { extract: "auto", unload: { iamRole: "default", ...(autoDataApiMaxMb === undefined ? {} : { autoDataApiMaxMb }) } }, queue: { usersPerMessage: 5 } });

  it("a result under autoDataApiMaxMb is read through the Data API (no UNLOAD, no segment); one over it is unloaded", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(50);
    const small = await runLocalPipeline({ config: measured(), stateDir, csv: writeCsv(join(dir, "users.csv"), rows), rate: 300, slices: 2 });
    expect(small).toMatchObject({ rowsRead: 50, created: 50, unaccounted: 0 });
    expect(small.segments).toBeUndefined();
    expectConsistent(stateDir, rows, [small]);
    // The same table with the bar under its ~15 KB result: UNLOAD and the segments, and nothing to change.
    const large = await runLocalPipeline({ config: measured(0.001), stateDir, rate: 300, slices: 2 });
    expect(large).toMatchObject({ rowsRead: 50, unchanged: 50, unaccounted: 0, auth0Calls: 0, segments: { done: 2, total: 2 } });
  }, 120_000);

  it("a result over the Data API's own limit is unloaded, not refused", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(30);
    // The emulator's limit lowered under the result: the measured query meets it, the run unloads instead.
    const s = await runLocalPipeline({ config: measured(500), stateDir, csv: writeCsv(join(dir, "users.csv"), rows), rate: 300, slices: 2, chaos: { dataApiResultLimitBytes: 1024 } });
    expect(s).toMatchObject({ rowsRead: 30, created: 30, unaccounted: 0, segments: { done: 2, total: 2 } });
  }, 120_000);
});

describe("a failed execution redriven (Step Functions' RedriveExecution): the run resumes and completes", () => {
  it("a segment that fails after the Map's retries fails the run; the redrive resumes the Map and completes the same run, exact, no user twice", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(90);
    const csv = writeCsv(join(dir, "users.csv"), rows);
    // From the third SendMessageBatch on, every send fails: the first segment dies after sending 20 users, and so
    // does every retry of it.
    const segmentSqs = failingSends((n) => (n >= 3 ? Object.assign(new Error("SQS is unreachable"), { name: "NetworkingError" }) : undefined));
    const config = unloading({ source: { unload: { iamRole: "default", maxConcurrency: 1 } }, queue: { usersPerMessage: 1 } });
    await expect(runLocalPipeline({ config, stateDir, csv, rate: 300, slices: 3, chaos: { segmentSqs } })).rejects.toThrow(/SQS is unreachable/);
    const dynamo = await startDynamo(join(stateDir, "ledger"));
    let runId: string;
    try {
      const ledger = new Ledger(dynamo.client, `auth0-sync-${config.name}-ledger`);
      const [failed] = await ledger.runs.latest(1);
      expect(failed).toMatchObject({ status: "failed", error: expect.stringMatching(/SQS is unreachable/) });
      runId = failed!.runId;
      // Released: a new run could start in between (the redrive takes it back).
      expect((await ledger.runs.lock()).runId).toBeUndefined();
    } finally {
      await dynamo.stop();
    }
    expect(tenantOf(stateDir).users.length).toBe(20);

    const redriven = await runLocalPipeline({ config, stateDir, rate: 300, slices: 3, redrive: true });
    expect(redriven).toMatchObject({ runId, rowsRead: 90, unaccounted: 0, segments: { done: 3, total: 3 } });
    expect(redriven.created + redriven.updated + redriven.unchanged).toBe(90);
    const users = tenantOf(stateDir).users as { email: string }[];
    expect(users).toHaveLength(90);
    expect(new Set(users.map((u) => u.email)).size).toBe(90);
    expectConsistent(stateDir, rows, [redriven]);
    expect(await recordedUnaccounted(stateDir, config.name, runId)).toBe(0);
    // Nothing is left to redrive, and the run's record says completed.
    await expect(runLocalPipeline({ config, stateDir, rate: 300, redrive: true })).rejects.toThrow("There is no failed execution to redrive");
    const again = await startDynamo(join(stateDir, "ledger"));
    try {
      expect(await new Ledger(again.client, `auth0-sync-${config.name}-ledger`).runs.get(runId)).toMatchObject({ status: "completed", summary: { rowsRead: 90 } });
    } finally {
      await again.stop();
    }
  }, 180_000);

  it("an older failed run is not redriven once a later run did work: it would send older rows over that run's", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    await runLocalPipeline({ config: unloading(), stateDir, csv: writeCsv(join(dir, "users.csv"), rowsOf(20)), rate: 300 });
    const bad = unloading({ source: { sql: "SELECT customer_id, email, nope FROM app_users" } });
    await expect(runLocalPipeline({ config: bad, stateDir, rate: 300 })).rejects.toThrow(/the UNLOAD statement failed/);
    await runLocalPipeline({ config: unloading(), stateDir, rate: 300 });
    await expect(runLocalPipeline({ config: bad, stateDir, rate: 300, redrive: true })).rejects.toThrow(/^Run run-\S+ is not redriven: run run-\S+ started after it and did work/);
  }, 120_000);
});
