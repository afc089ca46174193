import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { DescribeStatementCommand, ExecuteStatementCommand, GetStatementResultCommand, RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import type { UserOperation } from "../../functions/adapters/sqs/message.js";
import { extract } from "../../functions/extractor/extract.js";
import { ensureLedgerTable, startDynamo, type LocalDynamo } from "../../local/dynamo.js";
import { testConfig } from "../helpers/config.js";

const FAKE = { region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } };
const redshiftMock = mockClient(RedshiftDataClient);
const sqsMock = mockClient(SQSClient);
let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => {
  redshiftMock.restore();
  sqsMock.restore();
  await dynamo.stop();
});

const base = () => ({ config: testConfig(), redshift: new RedshiftDataClient(FAKE), logger: new Logger({ logLevel: "SILENT" }), metrics: new Metrics({ namespace: "t" }), poll: { minMs: 1, maxMs: 2 } });

describe("extractor run records", () => {
  it("marks the run failed with the warehouse's error when the extract fails, and rethrows", async () => {
    await ensureLedgerTable(dynamo.client, "x-failed");
    const ledger = new Ledger(dynamo.client, "x-failed");
    redshiftMock.reset();
    sqsMock.reset();
    sqsMock.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" } });
    redshiftMock.on(ExecuteStatementCommand).resolves({ Id: "s1" });
    redshiftMock.on(DescribeStatementCommand).resolves({ Status: "FAILED", Error: 'relation "app_users" does not exist' });
    await expect(extract({ ...base(), sqs: new SQSClient(FAKE), queueUrl: "q", ledger }, { runId: "run-f" })).rejects.toThrow(/app_users/);
    expect(await ledger.getRun("run-f")).toMatchObject({ status: "failed", error: expect.stringContaining('relation "app_users" does not exist'), finishedAt: expect.any(String) });
  });

  it("a dry run hands every operation to the caller and writes nothing: no SQS message, no run item", async () => {
    await ensureLedgerTable(dynamo.client, "x-dry");
    const ledger = new Ledger(dynamo.client, "x-dry");
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
    expect(await ledger.getRun("run-d")).toBeUndefined();
  });
});
