/**
 * The CLI against a deployed stack: CloudFormation, Lambda, CloudWatch and Secrets Manager are mocked
 * (aws-sdk-client-mock); SQS is local-aws-sqs for real (redrive's message move tasks), the ledger is dynalite,
 * the warehouse is the Data API emulator and Auth0 the emulator.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DescribeExecutionCommand, RedriveExecutionCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { PGlite } from "@electric-sql/pglite";
import { mockClient } from "aws-sdk-client-mock";
import { createSqsServer } from "local-aws-sqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { packMessages } from "../../functions/adapters/sqs/sender.js";
import { queueDepth } from "../../functions/adapters/sqs/redrive.js";
import { configHash, type SyncConfig } from "../../functions/core/config.js";
import type { SyncOperation } from "../../functions/adapters/sqs/message.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from "../../local/auth0-emulator.js";
import { createDemoTable, insertRows } from "../../local/demo-data.js";
import { ensureLedgerTable, startDynamo, type LocalDynamo } from "../../local/dynamo.js";
import { RedshiftDataEmulator } from "../../local/redshift-data-emulator.js";
import { runCli } from "../../cli/program.js";
import type { PlanReport } from "../../cli/plan.js";
import type { RedriveReport, RunReport, StatusReport } from "../../cli/targets/target.js";
import { testConfig } from "../helpers/config.js";
import { tempDir } from "../helpers/tmp.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const cfn = mockClient(CloudFormationClient);
const lambda = mockClient(LambdaClient);
const sfn = mockClient(SFNClient);
const cloudwatch = mockClient(CloudWatchClient);
const secrets = mockClient(SecretsManagerClient);

let sqsServer: Server;
let sqs: SQSClient;
let dynamo: LocalDynamo;
let n = 0;

beforeAll(async () => {
  sqsServer = await createSqsServer({ port: 0, hostname: "127.0.0.1" });
  sqs = new SQSClient({ endpoint: `http://127.0.0.1:${(sqsServer.address() as AddressInfo).port}`, region: "eu-west-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
  dynamo = await startDynamo();
});
afterAll(async () => {
  sqsServer.closeAllConnections();
  sqsServer.close();
  await dynamo.stop();
});
beforeEach(() => {
  cfn.reset();
  lambda.reset();
  cloudwatch.reset();
  secrets.reset();
  sfn.reset();
  cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [] });
  cloudwatch.on(GetMetricStatisticsCommand).resolves({ Datapoints: [] });
});

/** A deployed stack's resources: real queues (queue + DLQ with a redrive policy) and a ledger table. */
async function stack(opts: { dlqMessages?: number; config?: SyncConfig; reconcile?: boolean; unload?: boolean } = {}) {
  const id = ++n;
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `auth0-sync-t${id}-dlq` }))).QueueUrl!;
  const arn = async (url: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  const dlqArn = await arn(dlqUrl);
  const queueUrl = (
    await sqs.send(new CreateQueueCommand({ QueueName: `auth0-sync-t${id}`, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) } }))
  ).QueueUrl!;
  const table = `auth0-sync-t${id}-ledger`;
  await ensureLedgerTable(dynamo.client, table);
  const ledger = new Ledger(dynamo.client, table);
  const ops: SyncOperation[] = Array.from({ length: (opts.dlqMessages ?? 0) * 5 }, (_, i) => ({
    kind: "sync",
    row: i + 1,
    keyLabel: `k${i + 1}`,
    fingerprint: `fp${i}`,
    desired: { key: `k${i + 1}`, email: `user${i + 1}@example.com`, fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] },
  }));
  const bodies = packMessages("run-20261123T010000-abcdef", ops, 5).map((b) => b.body);
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: dlqUrl, Entries: bodies.slice(i, i + 10).map((b, k) => ({ Id: String(k), MessageBody: b })) }));
  }
  const stackName = `auth0-sync-t${id}`;
  cfn.on(DescribeStacksCommand, { StackName: stackName }).resolves({
    Stacks: [
      {
        StackName: stackName,
        CreationTime: new Date(),
        StackStatus: "CREATE_COMPLETE",
        Outputs: Object.entries({
          QueueUrl: queueUrl,
          QueueArn: await arn(queueUrl),
          DeadLetterQueueUrl: dlqUrl,
          DeadLetterQueueArn: dlqArn,
          ExtractorFunctionName: `${stackName}-extractor`,
          LedgerTableName: table,
          CredentialsSecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-AbCdEf",
          AlarmNamePrefix: `${stackName}-`,
          DashboardUrl: "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=x",
          ...(opts.config ? { ConfigHash: configHash(opts.config) } : {}),
          ...(opts.reconcile ? { ReconcileFunctionName: `${stackName}-reconcile` } : {}),
          ...(opts.unload ? { UnloadStateMachineArn: `arn:aws:states:eu-west-1:123456789012:stateMachine:${stackName}-unload-run` } : {}),
        }).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });
  return { stackName, queueUrl, dlqUrl, dlqArn, queueArn: await arn(queueUrl), ledger, ops };
}

async function cli(argv: string[], extra: { signal?: AbortSignal; redshift?: RedshiftDataClient } = {}) {
  let out = "";
  let err = "";
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    pollMs: 50,
    signal: extra.signal,
    awsClients: { cloudformation: new CloudFormationClient({ region: "eu-west-1" }), sqs, dynamodb: dynamo.client, lambda: new LambdaClient({ region: "eu-west-1" }), cloudwatch: new CloudWatchClient({ region: "eu-west-1" }), redshift: extra.redshift },
  });
  return { code, out, err };
}

describe("auth0-sync redrive against a stack (local-aws-sqs, for real)", () => {
  it("--dry-run counts; then every DLQ message moves back to the main queue", async () => {
    const s = await stack({ dlqMessages: 12 });
    const dry = await cli(["redrive", "--stack", s.stackName, "--dry-run"]);
    expect(dry).toMatchObject({ code: 0, out: "12 messages would move from the DLQ back to the main queue (dry run: nothing moved).\n" });
    expect((await queueDepth(sqs, s.dlqUrl)).visible).toBe(12);

    const r = await cli(["redrive", "--stack", s.stackName, "--rate", "100", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out) as RedriveReport).toMatchObject({ messages: 12, dryRun: false, progress: { status: "COMPLETED", moved: 12 } });
    expect((await queueDepth(sqs, s.queueUrl)).visible).toBe(12);
    expect((await queueDepth(sqs, s.dlqUrl)).visible).toBe(0);

    const none = await cli(["redrive", "--stack", s.stackName]);
    expect(none).toEqual({ code: 2, out: "", err: "The DLQ has no messages to move\n" });
  });

  it("refuses while a move task is running", async () => {
    const s = await stack({ dlqMessages: 30 });
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: s.dlqArn, DestinationArn: s.queueArn, MaxNumberOfMessagesPerSecond: 1 }));
    const r = await cli(["redrive", "--stack", s.stackName]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^A redrive of this DLQ is already running \(\d+ of \d+ moved\); wait for it or cancel it first\n$/);
  });

  it("cancels the move task on Ctrl-C and says so; the rest stays in the DLQ", async () => {
    const s = await stack({ dlqMessages: 40 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const r = await cli(["redrive", "--stack", s.stackName, "--rate", "2"], { signal: ac.signal });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^Redrive cancelled: \d+ of 40 messages moved back to the main queue\.\n$/);
    const left = (await queueDepth(sqs, s.dlqUrl)).visible;
    expect(left).toBeGreaterThan(30);
    expect(left + (await queueDepth(sqs, s.queueUrl)).visible).toBe(40);
  });
});

describe("auth0-sync status against a stack", () => {
  it("shows runs, depths, alarm states and DLQ messages with the ledger's reasons, consuming nothing", async () => {
    const s = await stack({ dlqMessages: 3 });
    await s.ledger.runs.put({ runId: "run-a", status: "completed", startedAt: "2026-11-22T01:00:00.000Z", summary: { rowsRead: 100, unchanged: 80, rejected: 2, enqueued: 18 } });
    await s.ledger.runs.addCounts("run-a", { created: 15, updated: 3 });
    await s.ledger.runs.put({ runId: "run-b", status: "failed", startedAt: "2026-11-23T01:00:00.000Z", error: "Redshift: relation \"app_users\" does not exist" });
    await s.ledger.users.recordFailure("k1", "create user: Auth0 answered 503: Service Unavailable");
    cloudwatch.on(DescribeAlarmsCommand, { AlarmNamePrefix: `${s.stackName}-` }).resolves({
      MetricAlarms: [
        { AlarmName: `${s.stackName}-DlqNotEmpty`, StateValue: "ALARM", StateReason: "Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0)." },
        { AlarmName: `${s.stackName}-QueueAge`, StateValue: "OK" },
      ],
    });
    cloudwatch.on(GetMetricStatisticsCommand).resolves({ Datapoints: [{ Timestamp: new Date(), Maximum: 5400 }] });

    const r = await cli(["status", "--stack", s.stackName, "--json"]);
    expect(r.code).toBe(0);
    const st = JSON.parse(r.out) as StatusReport;
    expect(st.runs.map((x) => [x.runId, x.status])).toEqual([
      ["run-b", "failed"],
      ["run-a", "completed"],
    ]);
    expect(st.runs[1]?.counts).toEqual({ created: 15, updated: 3 });
    expect(st.queue).toEqual({ visible: 0, inFlight: 0 });
    expect(st.dlq).toEqual({ visible: 3, inFlight: 0, oldestAgeSeconds: 5400 });
    expect(st.alarms).toEqual([
      { name: "DlqNotEmpty", state: "ALARM", reason: "Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0)." },
      { name: "QueueAge", state: "OK" },
    ]);
    expect(st.dlqSample).toHaveLength(3);
    const first = st.dlqSample.find((m) => m.reasons[0]?.startsWith("row 1:"));
    expect(first).toMatchObject({ runId: "run-20261123T010000-abcdef", users: 5, reasons: ["row 1: create user: Auth0 answered 503: Service Unavailable"] });
    expect((await queueDepth(sqs, s.dlqUrl)).visible).toBe(3);

    const text = await cli(["status", "--stack", s.stackName]);
    expect(text.out).toContain(`Status of stack ${s.stackName} (eu-west-1)`);
    expect(text.out).toMatch(/run-a\s+completed\s+2026-11-22 01:00:00\s+100\s+15\s+3\s+80\s+2\s+0/);
    expect(text.out).toContain('Redshift: relation "app_users" does not exist');
    expect(text.out).toContain("DLQ             3 messages, oldest 90 min");
    expect(text.out).toContain("Alarms          1 OK, 1 not OK:\n  ALARM             DlqNotEmpty: Threshold Crossed");
    expect(text.out).not.toContain("@example.com");
  });
});

describe("auth0-sync run against a stack", () => {
  it("invokes the extractor asynchronously with a run id and follows the ledger to the summary", async () => {
    const s = await stack();
    lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array; FunctionName: string; InvocationType: string }) => {
      const { runId } = JSON.parse(new TextDecoder().decode(input.Payload)) as { runId: string };
      // What the deployed extractor and consumers do, a little later: one message is still being processed
      // (in flight) when the extract completes; its users are counted before it is deleted.
      void (async () => {
        await sleep(100);
        await s.ledger.runs.put({ runId, status: "running", startedAt: new Date().toISOString() });
        await sqs.send(new SendMessageCommand({ QueueUrl: s.queueUrl, MessageBody: "{}" }));
        const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: s.queueUrl, VisibilityTimeout: 30 }));
        await s.ledger.runs.addCounts(runId, { created: 4 });
        await s.ledger.runs.put({ runId, status: "completed", startedAt: new Date().toISOString(), summary: { rowsRead: 10, unchanged: 3, rejected: 1, enqueued: 6 } });
        await sleep(400);
        await s.ledger.runs.addCounts(runId, { created: 1, updated: 1 });
        await sqs.send(new DeleteMessageCommand({ QueueUrl: s.queueUrl, ReceiptHandle: got.Messages![0]!.ReceiptHandle! }));
      })();
      return { StatusCode: 202 };
    });
    const r = await cli(["run", "--stack", s.stackName, "--json"]);
    expect(r.code).toBe(0);
    const call = lambda.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(call).toMatchObject({ FunctionName: `${s.stackName}-extractor`, InvocationType: "Event" });
    const rep = JSON.parse(r.out) as RunReport;
    expect(JSON.parse(new TextDecoder().decode(call.Payload as Uint8Array))).toEqual({ runId: rep.runId });
    expect(rep).toMatchObject({ status: "completed", rowsRead: 10, unaccounted: 0, created: 5, updated: 1, unchanged: 3, rejected: 1 });
  });

  it("on a stack that unloads, starts an execution of its state machine named by the run id, and follows the ledger", async () => {
    const s = await stack({ unload: true });
    sfn.on(StartExecutionCommand).callsFake(async (input: { name: string; stateMachineArn: string }) => {
      setTimeout(() => void s.ledger.runs.put({ runId: input.name, status: "completed", startedAt: new Date().toISOString(), summary: { rowsRead: 8, unchanged: 8, rejected: 0, enqueued: 0, segments: { done: 3, total: 3 } } }), 50);
      return { executionArn: `arn:aws:states:eu-west-1:123456789012:execution:x:${input.name}`, startDate: new Date() };
    });
    const r = await cli(["run", "--stack", s.stackName, "--json", "--approve-mirror"]);
    expect(r.code).toBe(0);
    const call = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
    const rep = JSON.parse(r.out) as RunReport;
    expect(call).toMatchObject({ stateMachineArn: `arn:aws:states:eu-west-1:123456789012:stateMachine:${s.stackName}-unload-run`, name: rep.runId });
    expect(JSON.parse(call.input!)).toEqual({ source: "cli", approveMirror: true });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
    expect(rep).toMatchObject({ status: "completed", rowsRead: 8, unchanged: 8, unaccounted: 0 });
  });

  it("status on a stack that unloads shows each run's segments and its execution in the console", async () => {
    const s = await stack({ unload: true });
    await s.ledger.runs.put({ runId: "run-20261204T010000-seg001", status: "running", startedAt: new Date().toISOString() });
    await s.ledger.runs.setSegmentsTotal("run-20261204T010000-seg001", 4);
    await s.ledger.runs.addSegmentDone("run-20261204T010000-seg001");
    const r = await cli(["status", "--stack", s.stackName]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `segments 1 / 4, execution https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:${s.stackName}-unload-run:run-20261204T010000-seg001`,
    );
  });

  it("redrive --execution redrives the latest failed run's execution (RedriveExecution) and follows the run to its end", async () => {
    const s = await stack({ unload: true });
    const failed = "run-20261204T010000-fail01";
    await s.ledger.runs.put({ runId: "run-20261204T000000-done01", status: "completed", startedAt: new Date().toISOString() });
    await s.ledger.runs.put({ runId: failed, status: "failed", startedAt: new Date().toISOString(), error: "segment 2: SQS is unreachable" });
    sfn.on(DescribeExecutionCommand).resolves({ status: "FAILED", executionArn: "x", stateMachineArn: "y", startDate: new Date() });
    sfn.on(RedriveExecutionCommand).callsFake(async () => {
      // The failure step takes the lock back and marks the run running; the finish completes it.
      setTimeout(() => void s.ledger.runs.put({ runId: failed, status: "completed", startedAt: new Date().toISOString(), summary: { rowsRead: 6, unchanged: 6, rejected: 0, enqueued: 0, segments: { done: 3, total: 3 } } }), 50);
      return { redriveDate: new Date() };
    });
    const r = await cli(["redrive", "--execution", "--stack", s.stackName, "--json"]);
    expect(r.code).toBe(0);
    expect(sfn.commandCalls(RedriveExecutionCommand)[0]!.args[0].input).toEqual({ executionArn: `arn:aws:states:eu-west-1:123456789012:execution:${s.stackName}-unload-run:${failed}` });
    expect(JSON.parse(r.out)).toMatchObject({ runId: failed, status: "completed", rowsRead: 6, unaccounted: 0 });
  });

  it("redrive --execution refuses in one sentence: not redrivable, timed out or stopped, a later run did work, a stack that does not unload", async () => {
    const s = await stack({ unload: true });
    const describe = (status: string) => sfn.on(DescribeExecutionCommand).resolves({ status: status as never, executionArn: "x", stateMachineArn: "y", startDate: new Date() });
    describe("FAILED");
    sfn.on(RedriveExecutionCommand).rejects(Object.assign(new Error("Execution has exceeded the redrivable period"), { name: "ExecutionNotRedrivable" }));
    const r = await cli(["redrive", "--execution", "run-20261204T010000-ok0001", "--stack", s.stackName]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("The execution of run run-20261204T010000-ok0001 cannot be redriven: Execution has exceeded the redrivable period");
    describe("TIMED_OUT");
    const timedOut = await cli(["redrive", "--execution", "run-20261204T010000-ok0001", "--stack", s.stackName]);
    expect(timedOut.err).toMatch(/is TIMED_OUT: auth0-sync redrives only an execution that failed .*Start a new run instead/);
    // A later run did work: the older one is not resumed over it.
    describe("FAILED");
    await s.ledger.runs.put({ runId: "run-20261204T010000-old001", status: "failed", startedAt: "2026-12-04T01:00:00.000Z", error: "x" });
    await s.ledger.runs.put({ runId: "run-20261204T020000-new001", status: "completed", startedAt: "2026-12-04T02:00:00.000Z" });
    const older = await cli(["redrive", "--execution", "run-20261204T010000-old001", "--stack", s.stackName]);
    expect(older.code).toBe(2);
    expect(older.err).toContain("Run run-20261204T010000-old001 is not redriven: run run-20261204T020000-new001 started after it and did work");
    expect(sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(1);
    const plain = await stack();
    const p = await cli(["redrive", "--execution", "--stack", plain.stackName]);
    expect(p.code).toBe(2);
    expect(p.err).toMatch(/does not unload its table: .*with no execution to redrive/);
    const both = await cli(["redrive", "--execution", "--dry-run", "--stack", s.stackName]);
    expect(both.err).toContain("--execution redrives a run, not the DLQ");
  });

  it("reports a failed extract with its error and exit code 1", async () => {
    const s = await stack();
    lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array }) => {
      const { runId } = JSON.parse(new TextDecoder().decode(input.Payload)) as { runId: string };
      setTimeout(() => void s.ledger.runs.put({ runId, status: "failed", startedAt: new Date().toISOString(), error: "ExecuteStatement: permission denied" }), 50);
      return { StatusCode: 202 };
    });
    const r = await cli(["run", "--stack", s.stackName]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("status          failed");
    expect(r.out).toContain("The extract failed: ExecuteStatement: permission denied");
  });
});

describe("auth0-sync reconcile against a stack", () => {
  it("invokes the reconcile function, waits for its answer and prints the drift; a job still running is said so", async () => {
    const s = await stack({ reconcile: true });
    const result = {
      runId: "reconcile-20261123T010000-abcdef",
      usersInTenant: 10,
      managed: 10,
      inSync: 9,
      drifted: 1,
      missing: 0,
      repairsQueued: 1,
      rowsRead: 10,
      adopted: 0,
      ambiguous: 0,
      unclaimed: 0,
      unmatched: 0,
      seedsRemoved: 0,
      leftAlone: 0,
      auth0Calls: 7,
      drift: [{ keyLabel: "c-0001", userId: "auth0|1", kind: "drifted", fields: [{ field: "given_name", before: "Edited", after: "Ann" }], repaired: true }],
      elapsedMs: 1200,
    };
    const answers = [{ state: "completed", result }, { state: "running", reconcileId: "reconcile-x", jobId: "job_abc", status: "processing" }];
    lambda.on(InvokeCommand).callsFake((input: { FunctionName: string; InvocationType: string; Payload: Uint8Array }) => {
      expect(input).toMatchObject({ FunctionName: `${s.stackName}-reconcile`, InvocationType: "RequestResponse" });
      expect(JSON.parse(new TextDecoder().decode(input.Payload))).toEqual({});
      return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(answers.shift())) };
    });
    const r = await cli(["reconcile", "--stack", s.stackName, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ state: "completed", usersInTenant: 10, managed: 10, drifted: 1, repairsQueued: 1, adopted: 0, auth0Calls: 7 });
    // The function answers once its repairs are queued: the consumers apply them after.
    answers.unshift({ state: "completed", result });
    expect((await cli(["reconcile", "--stack", s.stackName])).out).toContain("1 repair queued (the consumers apply them: 'auth0-sync status' shows how many were applied)");
    const running = await cli(["reconcile", "--stack", s.stackName]);
    expect(running.out).toContain("the export job job_abc is still processing");
  });

  it("a stack deployed without reconcile says how to add it; a function error is reported with exit code 1", async () => {
    const none = await stack();
    const r = await cli(["reconcile", "--stack", none.stackName]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`The stack ${none.stackName} has no reconcile function: add a reconcile section to the config and deploy.\n`);
    const s = await stack({ reconcile: true });
    lambda.on(InvokeCommand).callsFake(() => ({ StatusCode: 200, FunctionError: "Unhandled", Payload: new TextEncoder().encode(JSON.stringify({ errorType: "Auth0Error", errorMessage: "connection Username-Password-Authentication does not exist" })) }));
    const failed = await cli(["reconcile", "--stack", s.stackName]);
    expect(failed.code).toBe(1);
    expect(failed.err).toBe("The reconcile failed: connection Username-Password-Authentication does not exist\n");
  });
});

describe("auth0-sync plan against a stack", () => {
  it("reads the warehouse through the Data API, the ledger and Auth0 (credentials from the stack's secret), and writes nothing", async () => {
    const db = new PGlite();
    await createDemoTable(db);
    await insertRows(db, "app_users", [
      { customer_id: "c1", email: "ann@example.com", first_name: "Ann", roles: "viewer" },
      { customer_id: "c2", email: "bob@example.com", first_name: "Bob", roles: "viewer" },
      { customer_id: "c3", email: "not-an-email", first_name: "Cy", roles: "viewer" },
    ]);
    const redshiftEmulator = new RedshiftDataEmulator({ db });
    const redshift = new RedshiftDataClient({ endpoint: await redshiftEmulator.start(), region: "eu-west-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
    const auth0 = new Auth0Emulator({ roles: ["viewer"] });
    const baseUrl = await auth0.start();
    auth0.load({ ...auth0.state(), users: [] });
    try {
      const config = testConfig({
        source: { workgroupName: "wg", database: "dev", sql: "SELECT customer_id, email, first_name, roles FROM app_users" },
        identity: { keyColumn: "customer_id", emailColumn: "email" },
        mapping: { given_name: "first_name" },
        roles: { column: "roles" },
        auth0: { domain: auth0.domain, baseUrl, connection: "Username-Password-Authentication" },
      });
      const s = await stack({ config });
      const file = join(tempDir(), "sync.json");
      writeFileSync(file, JSON.stringify(config));
      secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ client_id: DEFAULT_CLIENT_ID, client_secret: DEFAULT_CLIENT_SECRET }) });
      auth0.clearLog();

      const r = await cli(["plan", "--stack", s.stackName, "--config", file, "--json"], { redshift });
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const p = JSON.parse(r.out) as PlanReport;
      expect(p).toMatchObject({ rowsRead: 3, counts: { create: 2, update: 0, unchanged: 0, reject: 1 }, lookups: 2, writes: 4 });
      expect(p.rejections).toEqual(["row 3, key c3: email: is not a valid email address"]);
      expect(secrets.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toMatchObject({ SecretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-AbCdEf" });
      const writes = auth0.requestLog.filter((x) => x.method !== "GET" && !x.route.includes("oauth/token"));
      expect(writes).toEqual([]);
      expect(await s.ledger.runs.latest()).toEqual([]);

      // A config file other than the deployed one is pointed out.
      writeFileSync(file, JSON.stringify({ ...config, mode: "update" }));
      const other = await cli(["plan", "--stack", s.stackName, "--config", file, "--json"], { redshift });
      expect(other.err).toContain(`warning: The config given differs from the one ${s.stackName} was deployed with`);
    } finally {
      await auth0.stop();
      await redshiftEmulator.stop();
      await db.close();
    }
  });
});

describe("auth0-sync errors are sentences", () => {
  it("unknown stack, missing credentials, not an auth0-sync stack, no target at all", async () => {
    cfn.on(DescribeStacksCommand, { StackName: "nope" }).rejects(Object.assign(new Error("Stack with id nope does not exist"), { name: "ValidationError" }));
    expect(await cli(["status", "--stack", "nope"])).toEqual({ code: 2, out: "", err: "No stack named nope in eu-west-1. Check --stack and --region, or deploy it with 'npx cdk deploy'.\n" });

    cfn.on(DescribeStacksCommand, { StackName: "nocreds" }).rejects(Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" }));
    const creds = await cli(["status", "--stack", "nocreds"]);
    expect(creds.code).toBe(2);
    expect(creds.err).toBe("No AWS credentials found. Set AWS_PROFILE (or use --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run 'aws sso login'.\n");

    cfn.on(DescribeStacksCommand, { StackName: "other" }).resolves({ Stacks: [{ StackName: "other", CreationTime: new Date(), StackStatus: "CREATE_COMPLETE", Outputs: [] }] });
    const other = await cli(["status", "--stack", "other"]);
    expect(other.err).toBe("The stack other is not an auth0-sync stack, or an older one: it has no QueueUrl, QueueArn, DeadLetterQueueUrl, DeadLetterQueueArn, ExtractorFunctionName, LedgerTableName output.\n");

    const cwd = process.cwd();
    process.chdir(tempDir());
    try {
      const none = await cli(["status"]);
      expect(none).toEqual({ code: 2, out: "", err: "Which stack? Give --stack NAME, or --config FILE (the stack is auth0-sync-<name>), or --local.\n" });
    } finally {
      process.chdir(cwd);
    }
    const missing = await cli(["plan", "--config", "does-not-exist.yml"]);
    expect(missing.err).toBe("Cannot read the config does-not-exist.yml: no such file\n");
    const unknown = await cli(["plan", "--lookups", "-3"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("expected a whole number from 0 to 1000000");
  });
});
