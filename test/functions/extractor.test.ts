import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { DescribeStatementCommand, ExecuteStatementCommand, GetStatementResultCommand, RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient, type SendMessageBatchCommandInput } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { UserOperation } from "../../functions/adapters/sqs/message.js";
import { warehouseOf } from "../../functions/core/config.js";
import { consumerBudget } from "../../functions/core/budget.js";
import { RunAccounting } from "../../functions/core/outcomes.js";
import { RedshiftSource } from "../../functions/adapters/redshift/source.js";
import { runExtract as extract } from "../../functions/flows/extract-run.js";
import { chooseUnchangedCheck, scanSegments } from "../../functions/core/unchanged-check.js";
import { runsForStatus } from "../../functions/flows/run-status.js";
import { testConfig } from "../helpers/config.js";
import { localLedgers } from "../helpers/ledger.js";

const FAKE = { region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } };
const redshiftMock = mockClient(RedshiftDataClient);
const sqsMock = mockClient(SQSClient);
const ledgers = localLedgers("x");
afterAll(() => {
  redshiftMock.restore();
  sqsMock.restore();
});

const base = () => ({
  config: testConfig(),
  source: new RedshiftSource(new RedshiftDataClient(FAKE), warehouseOf(testConfig()), { minMs: 1, maxMs: 2 }),
  logger: new Logger({ logLevel: "SILENT" }),
  metrics: new Metrics({ namespace: "t" }),
});

describe("extractor run records", () => {
  it("marks the run failed with the warehouse's error when the extract fails, and rethrows", async () => {
    const ledger = await ledgers.ledger("x-failed");
    redshiftMock.reset();
    sqsMock.reset();
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" } });
    redshiftMock.on(ExecuteStatementCommand).resolves({ Id: "s1" });
    redshiftMock.on(DescribeStatementCommand).resolves({ Status: "FAILED", Error: 'relation "app_users" does not exist' });
    await expect(extract({ ...base(), sqs: new SQSClient(FAKE), queueUrl: "q", ledger }, { runId: "run-f" })).rejects.toThrow(/app_users/);
    expect(await ledger.runs.get("run-f")).toMatchObject({ status: "failed", error: expect.stringContaining('relation "app_users" does not exist'), finishedAt: expect.any(String) });
  });

  it("a dry run hands every operation to the caller and writes nothing: no SQS message, no run item", async () => {
    const ledger = await ledgers.ledger("x-dry");
    redshiftMock.reset();
    sqsMock.reset();
    redshiftMock.on(ExecuteStatementCommand).resolves({ Id: "s2" });
    redshiftMock.on(DescribeStatementCommand).resolves({ Status: "FINISHED", HasResultSet: true, ResultRows: 2 });
    redshiftMock.on(GetStatementResultCommand).resolves({
      ColumnMetadata: [{ name: "id" }, { name: "email" }],
      Records: [
        [{ stringValue: "a" }, { stringValue: "a@example.com" }],
        [{ stringValue: "b" }, { stringValue: "nope" }],
      ],
    });
    const ops: UserOperation[] = [];
    const res = await extract({ ...base(), ledger, dryRun: { onOperation: (op) => void ops.push(op) } }, { runId: "run-d" });
    expect(res).toMatchObject({ rowsRead: 2, rejected: 1, enqueued: 1, messages: 0, sqsRequests: 0 });
    expect(ops.map((o) => o.kind === "sync" && o.desired.key)).toEqual(["a"]);
    expect(sqsMock.calls()).toHaveLength(0);
    expect(await ledger.runs.get("run-d")).toBeUndefined();
  });
});

/** A warehouse of `pages` pages of `perPage` rows (keys k0, k1, ...), through the mocked Data API. */
function warehouse(pages: number, perPage: number) {
  redshiftMock.reset();
  sqsMock.reset();
  sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" } });
  sqsMock.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({ Successful: input.Entries!.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}` })), Failed: [] }));
  redshiftMock.on(ExecuteStatementCommand).resolves({ Id: "s" });
  redshiftMock.on(DescribeStatementCommand).resolves({ Status: "FINISHED", HasResultSet: true, ResultRows: pages * perPage });
  redshiftMock.on(GetStatementResultCommand).callsFake((input: { NextToken?: string }) => {
    const p = Number(input.NextToken ?? 0);
    const rows = Array.from({ length: perPage }, (_, i) => p * perPage + i);
    return {
      ColumnMetadata: [{ name: "id" }, { name: "email" }, { name: "first_name" }],
      Records: rows.map((n) => [{ stringValue: `k${n}` }, { stringValue: `user${n}@example.com` }, { stringValue: "Ada" }]),
      NextToken: p + 1 < pages ? String(p + 1) : undefined,
    };
  });
}
const sentBatches = () => sqsMock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries!.map((e) => (JSON.parse(e.MessageBody!) as { ops: unknown[] }).ops.length));

describe("the unchanged check", () => {
  it("scan or lookups: the same rows are unchanged (applied, managed, not blocked, same fingerprint), the rest are sent", async () => {
    const ledger = await ledgers.ledger("x-unchanged");
    warehouse(1, 6);
    const ops: UserOperation[] = [];
    await extract({ ...base(), ledger, dryRun: { onOperation: (op) => void ops.push(op) } });
    const fp = Object.fromEntries(ops.map((o) => [o.kind === "sync" ? o.desired.key : "", o.kind === "sync" ? o.fingerprint : ""]));
    await ledger.users.putMany([
      { key: "k0", userId: "auth0|0", fingerprint: fp.k0, managed: true },
      { key: "k1", userId: "auth0|1", fingerprint: fp.k1, managed: true },
      { key: "k2", userId: "auth0|2", fingerprint: fp.k2, managed: true, blockedAt: "2026-01-01T00:00:00Z" },
      { key: "k3", userId: "auth0|3", fingerprint: fp.k3, managed: false },
      { key: "k4", userId: "auth0|4", fingerprint: "another", managed: true },
    ]);
    for (const unchangedCheck of ["scan", "lookup", "auto"] as const) {
      warehouse(1, 6);
      const scan = vi.spyOn(ledger.users, "scanFingerprints");
      const lookup = vi.spyOn(ledger.users, "getMany");
      const res = await extract({ ...base(), sqs: new SQSClient(FAKE), queueUrl: "q", ledger, unchangedCheck });
      expect(res, unchangedCheck).toMatchObject({ rowsRead: 6, unchanged: 2, enqueued: 4 });
      const sent = sqsMock.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!.flatMap((e) => (JSON.parse(e.MessageBody!) as { ops: { desired: { key: string } }[] }).ops.map((o) => o.desired.key)));
      expect(sent.sort(), unchangedCheck).toEqual(["k2", "k3", "k4", "k5"]);
      // A ledger of 5 items for 6 rows is scanned when the extractor decides.
      expect(scan.mock.calls.length, unchangedCheck).toBe(unchangedCheck === "lookup" ? 0 : 1);
      expect(lookup.mock.calls.length, unchangedCheck).toBe(unchangedCheck === "lookup" ? 1 : 0);
      scan.mockRestore();
      lookup.mockRestore();
    }
  });

  it("looks rows up when the ledger holds far more users than the run reads; the last run's row count starts the scan early", async () => {
    expect(chooseUnchangedCheck(20_000, 20_000)).toBe("scan");
    expect(chooseUnchangedCheck(1_000, 4_000)).toBe("scan");
    expect(chooseUnchangedCheck(1_000, 4_001)).toBe("lookup");
    expect(chooseUnchangedCheck(0, 0)).toBe("scan");
    expect([scanSegments(0), scanSegments(100_000), scanSegments(100_001), scanSegments(10_000_000)]).toEqual([4, 4, 5, 16]);

    const ledger = await ledgers.ledger("x-big");
    vi.spyOn(ledger.users, "approximateItemCount").mockResolvedValue(1_000_000);
    const scan = vi.spyOn(ledger.users, "scanFingerprints");
    warehouse(1, 10);
    expect(await extract({ ...base(), sqs: new SQSClient(FAKE), queueUrl: "q", ledger })).toMatchObject({ rowsRead: 10, enqueued: 10 });
    expect(scan).not.toHaveBeenCalled();
    // The completed run left its row count on the lock item for the next run's estimate.
    expect(await ledger.runs.acquireLock("probe", 1000)).toEqual({ ok: true, lastRowsRead: 10 });
    await ledger.runs.releaseLock("probe");
  });
});

describe("sending", () => {
  it("waits for a full SendMessageBatch, but sends what waited past the interval after each page, spread over the consumer instances", async () => {
    const config = testConfig({ auth0: { domain: "t.emulator.local", connection: "Username-Password-Authentication", rateLimit: { requestsPerSecond: 100, burst: 100 } } });
    const spread = Math.min(10, consumerBudget(config).maxConcurrency);
    expect(spread).toBeGreaterThan(3);
    /** n operations in messages of at most 25 users, split over `spread` messages. */
    const split = (n: number) => {
      const size = Math.min(25, Math.ceil(n / spread));
      return Array.from({ length: Math.ceil(n / size) }, (_, i) => Math.min(size, n - i * size));
    };
    warehouse(3, 30);
    await extract({ ...base(), config, sqs: new SQSClient(FAKE), queueUrl: "q", flushIntervalMs: 60_000 });
    // 90 rows, fewer than a full batch (10 messages of 25): one send at the end, spread over the instances.
    expect(sentBatches()).toEqual([split(90)]);
    warehouse(3, 30);
    await extract({ ...base(), config, sqs: new SQSClient(FAKE), queueUrl: "q", flushIntervalMs: 0 });
    // Every page's operations as soon as it is read.
    expect(sentBatches()).toEqual([split(30), split(30), split(30)]);
    // Pages of 300 rows: each fills a batch (250), so each is sent whole in messages of 25 (10 + 2 per page).
    warehouse(2, 300);
    await extract({ ...base(), config, sqs: new SQSClient(FAKE), queueUrl: "q" });
    expect(sentBatches().map((b) => b.length)).toEqual([10, 2, 10, 2]);
    expect(sentBatches().flat().every((n) => n === 25)).toBe(true);
    expect(sentBatches().flat().reduce((x, y) => x + y, 0)).toBe(600);
  });
});

describe("how a run ends", () => {
  const metricNames = (spy: { mock: { calls: unknown[][] } }) => spy.mock.calls.map((c) => c[0] as string);

  it("RunsSucceeded is the last metric of a successful run, and never emitted when the accounting check fails", async () => {
    const ledger = await ledgers.ledger("x-succeeded");
    warehouse(1, 5);
    const ok = base();
    const added = vi.spyOn(ok.metrics, "addMetric");
    await extract({ ...ok, sqs: new SQSClient(FAKE), queueUrl: "q", ledger }, { runId: "run-ok" });
    expect(metricNames(added).at(-1)).toBe("RunsSucceeded");

    warehouse(1, 5);
    const bad = base();
    const addedBad = vi.spyOn(bad.metrics, "addMetric");
    const snapshot = vi.spyOn(RunAccounting.prototype, "snapshot");
    snapshot.mockImplementation(function (this: RunAccounting) {
      snapshot.mockRestore();
      return { ...this.snapshot(), unaccounted: 1 };
    });
    await expect(extract({ ...bad, sqs: new SQSClient(FAKE), queueUrl: "q", ledger }, { runId: "run-unaccounted" })).rejects.toThrow("extract accounting does not add up: 1 rows unaccounted");
    expect(metricNames(addedBad)).not.toContain("RunsSucceeded");
    expect(await ledger.runs.get("run-unaccounted")).toMatchObject({ status: "failed" });
  });

  it("RunsSucceeded is not emitted when the final run write fails", async () => {
    const ledger = await ledgers.ledger("x-final-write");
    warehouse(1, 5);
    const deps = base();
    const added = vi.spyOn(deps.metrics, "addMetric");
    const putRun = ledger.runs.put.bind(ledger.runs);
    vi.spyOn(ledger.runs, "put").mockImplementation((run) => (run.status === "completed" ? Promise.reject(new Error("throttled")) : putRun(run)));
    await expect(extract({ ...deps, sqs: new SQSClient(FAKE), queueUrl: "q", ledger }, { runId: "run-w" })).rejects.toThrow("throttled");
    expect(metricNames(added)).not.toContain("RunsSucceeded");
  });

  it("releases the run lock when the admission check fails after the lock was taken", async () => {
    const ledger = await ledgers.ledger("x-lock");
    warehouse(1, 5);
    sqsMock.on(GetQueueAttributesCommand).rejects(new Error("sqs is unavailable"));
    await expect(extract({ ...base(), sqs: new SQSClient(FAKE), queueUrl: "q", ledger }, { runId: "run-adm" })).rejects.toThrow("sqs is unavailable");
    expect(await ledger.runs.get("run-adm")).toMatchObject({ status: "failed", error: "sqs is unavailable" });
    // The next run is not skipped as "another extract is running".
    expect(await ledger.runs.acquireLock("next", 60_000)).toMatchObject({ ok: true });
  });
});

describe("interrupted runs", () => {
  it("the next run marks a run whose extractor died (its lock expired) interrupted, with what it had done", async () => {
    const ledger = await ledgers.ledger("x-interrupted");
    // A run took the lock for 1 s, recorded its progress, and never finished.
    const past = Date.now() - 5_000;
    expect(await ledger.runs.acquireLock("run-died", 1_000, past)).toMatchObject({ ok: true });
    await ledger.runs.put({ runId: "run-died", status: "running", startedAt: new Date(past).toISOString(), summary: { rowsRead: 12_000, unchanged: 100, rejected: 0, enqueued: 9_000, partial: true } });
    warehouse(1, 5);
    await extract({ ...base(), sqs: new SQSClient(FAKE), queueUrl: "q", ledger }, { runId: "run-next" });
    expect(await ledger.runs.get("run-died")).toMatchObject({
      status: "interrupted",
      error: "the extractor stopped after reading 12,000 rows (a Lambda timeout, a crash or a stopped local run); what it had sent is applied, the rest goes with the next run",
      finishedAt: expect.any(String),
    });
    expect(await ledger.runs.get("run-next")).toMatchObject({ status: "completed" });
  });

  it("status marks a running run that no longer holds the lock interrupted, and leaves a live one running", async () => {
    const ledger = await ledgers.ledger("x-status");
    const t0 = Date.now();
    await ledger.runs.put({ runId: "run-a", status: "running", startedAt: new Date(t0 - 60_000).toISOString() });
    await ledger.runs.put({ runId: "run-b", status: "running", startedAt: new Date(t0 - 1_000).toISOString() });
    await ledger.runs.put({ runId: "run-c", status: "completed", startedAt: new Date(t0 - 120_000).toISOString() });
    await ledger.runs.acquireLock("run-b", 60_000, t0);
    const runs = await runsForStatus(ledger, 10, t0 + 1);
    expect(Object.fromEntries(runs.map((r) => [r.runId, r.status]))).toEqual({ "run-a": "interrupted", "run-b": "running", "run-c": "completed" });
    expect(runs.find((r) => r.runId === "run-a")?.error).toMatch(/^the extractor stopped before its first page/);
    expect((await ledger.runs.get("run-a"))?.status).toBe("interrupted");
    // Once run-b's lock has expired, it is interrupted too.
    expect((await runsForStatus(ledger, 10, t0 + 61_000)).find((r) => r.runId === "run-b")?.status).toBe("interrupted");
  });
});
