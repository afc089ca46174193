import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { type SyncConfig, type SyncConfigInput } from "../../functions/core/config.js";
import { consumerBudget } from "../../functions/core/budget.js";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import { testConfig } from "../helpers/config.js";
import { grantedActions, resolve, roleStatements } from "../helpers/iam.js";
import { tempDir } from "../helpers/tmp.js";

const SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-m2m-AbCdEf";
const RS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift-XyZ123";

/** Synthesises a stack with cdk-nag's AwsSolutions checks; synth throws if any finding is unacknowledged. */
function synth(over: Partial<SyncConfigInput> = {}, bundle = false): { template: Template; config: SyncConfig; stack: Auth0SyncStack } {
  const config = testConfig(over);
  // Bundling both Lambdas takes seconds; the main template bundles for real, variants skip it.
  const app = new App(bundle ? {} : { context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Auth0SyncStack(app, "test", { config, env: { account: "123456789012", region: "eu-west-1" } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return { template: Template.fromStack(stack), config, stack };
}

function policyOf(t: Template, roleFragment: string): unknown[] {
  const policies = t.findResources("AWS::IAM::Policy");
  return Object.entries(policies)
    .filter(([id]) => id.includes(roleFragment))
    .flatMap(([, p]) => (p as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement);
}

describe("the deployable stack", () => {
  let t: Template;
  let config: SyncConfig;
  beforeAll(() => {
    // Without import jobs: the core stack (describe "import jobs" below adds the importer of the default create.bulk).
    ({ template: t, config } = synth({ auth0: { domain: "acme.eu.auth0.com", connection: "Username-Password-Authentication", credentialsSecretArn: SECRET }, create: { bulk: "off" } }, true));
  }, 120_000);

  it("schedules the extractor with few retries, a short event age and its own DLQ", () => {
    t.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "rate(1 hour)",
      State: "ENABLED",
      Target: {
        Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("Pipelineextractor"), "Arn"] },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 },
        DeadLetterConfig: { Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("ScheduleDeadLetterQueue"), "Arn"] } },
      },
    });
  });

  it("builds both Lambdas as ESM bundles on ARM64 with a Node 22+ runtime, explicit log groups and Powertools settings", () => {
    const fns = t.findResources("AWS::Lambda::Function");
    expect(Object.keys(fns)).toHaveLength(2);
    for (const [id, fn] of Object.entries(fns)) {
      const p = (fn as { Properties: Record<string, unknown> }).Properties;
      const name = id.includes("extractor") ? "extractor" : "consumer";
      expect(p.Runtime).toBe("nodejs24.x");
      expect(p.Architectures).toEqual(["arm64"]);
      expect(p.Handler).toBe("index.handler");
      expect(p.LoggingConfig).toEqual({ LogGroup: { Ref: expect.stringMatching(new RegExp(`${name}logs`)) } });
      const env = (p.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env).toMatchObject({ POWERTOOLS_SERVICE_NAME: `test-sync-${name}`, POWERTOOLS_METRICS_NAMESPACE: "Auth0Sync" });
      // No secret is ever an environment value.
      expect(JSON.stringify(env)).not.toMatch(/client_secret|password/i);
      expect(p.Timeout).toBe(name === "extractor" ? 900 : 120);
      expect(p.TracingConfig).toBeUndefined();
    }
    t.resourcePropertiesCountIs("AWS::Logs::LogGroup", { RetentionInDays: 30 }, 2);
  });

  it("gives the queues SSE, TLS only, a visibility of 6 x the consumer timeout, and a 14-day DLQ that only the main queue may use", () => {
    t.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "auth0-sync-test-sync",
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 6 * 120,
      MessageRetentionPeriod: 4 * 86400,
      RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": [Match.stringLikeRegexp("PipelineDeadLetterQueue"), "Arn"] }, maxReceiveCount: 5 },
    });
    t.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "auth0-sync-test-sync-dlq",
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86400,
      RedriveAllowPolicy: { redrivePermission: "byQueue", sourceQueueArns: [{ "Fn::Join": ["", Match.arrayWith([":sqs:eu-west-1:123456789012:auth0-sync-test-sync"])] }] },
    });
    const policies = Object.values(t.findResources("AWS::SQS::QueuePolicy"));
    expect(policies.length).toBeGreaterThanOrEqual(3);
    for (const p of policies) {
      expect(JSON.stringify(p)).toContain('"aws:SecureTransport":"false"');
    }
  });

  it("maps the queue to the consumer with partial batch responses and maxConcurrency from the budget", () => {
    t.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      BatchSize: config.queue.batchSize,
      ScalingConfig: { MaximumConcurrency: consumerBudget(config).maxConcurrency },
    });
    expect(consumerBudget(config).maxConcurrency).toBe(2);
  });

  it("references the credentials secret by ARN and grants exactly that secret to the consumer only", () => {
    t.resourceCountIs("AWS::SecretsManager::Secret", 0);
    const consumer = JSON.stringify(policyOf(t, "consumer"));
    expect(consumer).toContain(SECRET);
    expect(consumer).toContain("secretsmanager:GetSecretValue");
    expect(consumer).not.toContain("redshift");
    expect(JSON.stringify(policyOf(t, "extractor"))).not.toContain("secretsmanager");
  });

  it("grants the extractor Data API statements on the workgroup, statement reads only for its own statements, and sends to the queue", () => {
    const ext = policyOf(t, "extractor");
    expect(ext).toContainEqual({
      Action: "redshift-data:ExecuteStatement",
      Effect: "Allow",
      Resource: { "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":redshift-serverless:eu-west-1:123456789012:workgroup/*"]] },
    });
    expect(ext).toContainEqual({
      Action: ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"],
      Effect: "Allow",
      Resource: "*",
      Condition: { StringEquals: { "redshift-data:statement-owner-iam-userid": "${aws:userid}" } },
    });
    expect(JSON.stringify(ext)).toContain("sqs:SendMessage");
    expect(JSON.stringify(ext)).toContain("redshift-serverless:GetCredentials");
    t.resourceCountIs("AWS::IAM::ManagedPolicy", 0);
    for (const role of Object.values(t.findResources("AWS::IAM::Role"))) expect(JSON.stringify(role)).not.toContain("AWSLambdaBasicExecutionRole");
  });

  it("raises seven alarms to an SNS topic", () => {
    const alarms = t.findResources("AWS::CloudWatch::Alarm");
    expect(Object.keys(alarms)).toHaveLength(7);
    t.hasResourceProperties("AWS::CloudWatch::Alarm", { MetricName: "RunsHeld", Namespace: "Auth0Sync", Threshold: 0, ComparisonOperator: "GreaterThanThreshold" });
    t.hasResourceProperties("AWS::SNS::Topic", {});
    t.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "ApproximateNumberOfMessagesVisible",
      Namespace: "AWS/SQS",
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      TreatMissingData: "notBreaching",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [Match.stringLikeRegexp("PipelineDeadLetterQueue"), "QueueName"] } }],
      AlarmActions: [{ Ref: Match.stringLikeRegexp("ObservabilityAlarms") }],
    });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", { MetricName: "ApproximateAgeOfOldestMessage", Threshold: 3600 });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", { MetricName: "Errors", Dimensions: [{ Name: "FunctionName", Value: { Ref: Match.stringLikeRegexp("Pipelineconsumer") } }] });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", { MetricName: "Errors", Dimensions: [{ Name: "FunctionName", Value: { Ref: Match.stringLikeRegexp("Pipelineextractor") } }] });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "RunsSucceeded",
      Namespace: "Auth0Sync",
      Dimensions: [{ Name: "service", Value: "test-sync-extractor" }],
      Period: 7200,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
    });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Threshold: 0.05,
      Metrics: Match.arrayWith([Match.objectLike({ Expression: "IF(calls > 0, throttled / calls, 0)" })]),
    });
    t.resourceCountIs("AWS::SNS::Subscription", 0);
  });

  it("draws a dashboard of the run's flow, Auth0 calls, queues, Lambdas and alarms", () => {
    const dash = Object.values(t.findResources("AWS::CloudWatch::Dashboard"))[0] as { Properties: { DashboardBody: unknown; DashboardName: string } };
    expect(dash.Properties.DashboardName).toBe("auth0-sync-test-sync");
    const body = JSON.stringify(dash.Properties.DashboardBody);
    for (const metric of ["RowsRead", "RowsRejected", "RowsEnqueued", "UsersCreated", "UsersUpdated", "UsersUnchanged", "UsersRejected", "dead-lettered (DLQ messages)", "Auth0Calls", "Auth0Status429", "LedgerWriteFailures", "ApproximateAgeOfOldestMessage", "Throttles", "Duration", "alarm"]) {
      expect(body, metric).toContain(metric);
    }
  });

  it("keeps the ledger in an on-demand table with point-in-time recovery and deletion protection, read and written by both Lambdas", () => {
    t.hasResourceProperties("AWS::DynamoDB::GlobalTable", {
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
      // The sparse runs index `auth0-sync status` reads the last runs from.
      GlobalSecondaryIndexes: [
        {
          IndexName: "runs",
          KeySchema: [
            { AttributeName: "runIndex", KeyType: "HASH" },
            { AttributeName: "startedAt", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: true })],
    });
    t.hasResource("AWS::DynamoDB::GlobalTable", { DeletionPolicy: "Retain" });
    const dynamoActions = (fn: string) => {
      const stmts = (policyOf(t, fn) as { Action: string | string[]; Resource: unknown }[]).filter((x) => [x.Action].flat().some((a) => a.startsWith("dynamodb:")));
      expect(stmts, fn).toHaveLength(1);
      // The table itself, not its index.
      expect(stmts[0]!.Resource, fn).toEqual({ "Fn::GetAtt": [expect.stringMatching(/^PipelineLedger/), "Arn"] });
      return [stmts[0]!.Action].flat().sort();
    };
    // The run lock names its holder with GetItem; the consumer never reads single items (test/lib/iam-coverage.test.ts).
    expect(dynamoActions("extractor")).toEqual(["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"]);
    expect(dynamoActions("consumer")).toEqual(["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]);
    t.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: Match.objectLike({ LEDGER_TABLE: { Ref: Match.stringLikeRegexp("PipelineLedger") } }) } });
  });

  it("has no reconcile without config.reconcile: no third Lambda, schedule, alarms, output or dashboard row", () => {
    expect(config.reconcile).toBeUndefined();
    t.resourceCountIs("AWS::Lambda::Function", 2);
    t.resourceCountIs("AWS::Scheduler::Schedule", 1);
    expect(Object.keys(t.findOutputs("ReconcileFunctionName"))).toEqual([]);
    expect(JSON.stringify(t.toJSON())).not.toMatch(/reconcile/i);
  });

  it("outputs what the CLI finds the stack's resources by: queues, functions, ledger, alarm names, config hash", () => {
    const outputs = t.findOutputs("*");
    for (const o of ["QueueUrl", "QueueArn", "DeadLetterQueueUrl", "DeadLetterQueueArn", "ExtractorFunctionName", "ConsumerFunctionName", "DashboardUrl", "AlarmTopicArn", "CredentialsSecretArn", "LedgerTableName"]) {
      expect(Object.keys(outputs)).toContain(o);
    }
    const prefix = outputs.AlarmNamePrefix?.Value as string;
    expect(prefix).toMatch(/^auth0-sync-.+-$/);
    const names = Object.values(t.findResources("AWS::CloudWatch::Alarm")).map((a) => (a as { Properties: { AlarmName: string } }).Properties.AlarmName);
    expect(names).toHaveLength(7);
    for (const n of names) expect(n.startsWith(prefix), n).toBe(true);
    expect(outputs.ConfigHash?.Value).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("import jobs (create.bulk, issue 27)", () => {
  let t: Template;
  let stack: Auth0SyncStack;
  beforeAll(() => {
    // The default config: create.bulk auto. Bundled for real: the handler is functions/importer/handler.ts.
    ({ template: t, stack } = synth({}, true));
  }, 120_000);
  const logical = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

  it("adds the import queue (SSE, TLS only, 2 x the importer's 15 minutes) sharing the DLQ, which only the sync's two queues may use", () => {
    t.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "auth0-sync-test-sync-import",
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 2 * 900,
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: 5 },
    });
    const dlq = Object.values(t.findResources("AWS::SQS::Queue")).find((q) => (q as { Properties: { QueueName?: string } }).Properties.QueueName === "auth0-sync-test-sync-dlq") as { Properties: { RedriveAllowPolicy: { sourceQueueArns: unknown[] } } };
    expect(JSON.stringify(dlq.Properties.RedriveAllowPolicy.sourceQueueArns)).toContain(":auth0-sync-test-sync-import");
    expect(dlq.Properties.RedriveAllowPolicy.sourceQueueArns).toHaveLength(2);
  });

  it("runs the importer from it one batch at a time, at most two at once (Auth0 runs two import jobs of a tenant), with partial batch responses", () => {
    const importer = stack.pipeline.importer;
    expect(importer).toBeDefined();
    t.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: logical(importer!) },
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    t.hasResourceProperties("AWS::Lambda::Function", { FunctionName: Match.absent(), Timeout: 900, Handler: "index.handler", Environment: { Variables: Match.objectLike({ QUEUE_URL: Match.anyValue(), LEDGER_TABLE: Match.anyValue(), POWERTOOLS_SERVICE_NAME: "test-sync-importer" }) } });
    // The extractor knows where import batches go.
    t.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: Match.objectLike({ IMPORT_QUEUE_URL: Match.anyValue(), POWERTOOLS_SERVICE_NAME: "test-sync-extractor" }) } });
  });

  it("grants the importer exactly its calls: the ledger's import actions, SendMessage to the main queue, the credentials secret", () => {
    const statements = roleStatements(t, "auth0-sync test-sync importer");
    expect(grantedActions(statements).sort()).toEqual([
      "dynamodb:BatchGetItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "secretsmanager:GetSecretValue",
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ReceiveMessage",
      "sqs:SendMessage",
    ]);
  });

  it("alarms on the importer's errors, draws an import row on the dashboard, and outputs the import queue and the importer", () => {
    const names = Object.values(t.findResources("AWS::CloudWatch::Alarm")).map((a) => (a as { Properties: { AlarmName: string } }).Properties.AlarmName);
    expect(names).toContain("auth0-sync-test-sync-ImporterErrors");
    const body = JSON.stringify(t.findResources("AWS::CloudWatch::Dashboard"));
    for (const m of ["ImportJobs", "ImportedUsers", "ImportFallbacks", "ImportAuth0Calls", "Import queue"]) expect(body).toContain(m);
    expect(Object.keys(t.findOutputs("*"))).toEqual(expect.arrayContaining(["ImportQueueUrl", "ImporterFunctionName"]));
  });

  it("has no import queue or importer when create.bulk is off, or the connection cannot take imports", () => {
    for (const over of [{ create: { bulk: "off" as const } }, { auth0: { domain: "t.example.com", connection: "email", connectionType: "passwordless" as const } }]) {
      const { template } = synth(over);
      expect(JSON.stringify(template.toJSON())).not.toMatch(/import/i);
    }
  });
});

describe("the writes queue (roles of created users grouped across invocations, issue 27)", () => {
  it("with roles: the writes queue sharing the DLQ, read by the consumer a grouped call's worth at a time over the window; the consumer sends to it, the extractor reads its depth", () => {
    const { template: t, stack } = synth({ roles: { column: "roles", removeUnlisted: true }, create: { bulk: "off" } });
    t.hasResourceProperties("AWS::SQS::Queue", { QueueName: "auth0-sync-test-sync-writes", SqsManagedSseEnabled: true, RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: 5 } });
    const consumer = stack.getLogicalId(stack.pipeline.consumer.node.defaultChild as never);
    // 16/s (the default budget): twice the time 100 creates take.
    t.hasResourceProperties("AWS::Lambda::EventSourceMapping", { FunctionName: { Ref: consumer }, BatchSize: 100, MaximumBatchingWindowInSeconds: 13, ScalingConfig: { MaximumConcurrency: 2 }, FunctionResponseTypes: ["ReportBatchItemFailures"] });
    expect(grantedActions(roleStatements(t, "auth0-sync test-sync consumer"))).toContain("sqs:SendMessage");
    t.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: Match.objectLike({ WRITES_QUEUE_URL: Match.anyValue(), POWERTOOLS_SERVICE_NAME: "test-sync-consumer" }) } });
    t.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: Match.objectLike({ WRITES_QUEUE_URL: Match.anyValue(), POWERTOOLS_SERVICE_NAME: "test-sync-extractor" }) } });
  });

  it("without roles or organizations there is no writes queue", () => {
    const { template } = synth({ create: { bulk: "off" } });
    expect(JSON.stringify(template.toJSON())).not.toMatch(/writes/i);
  });
});

describe("the reconcile (config reconcile)", () => {
  const PSEUDO = { region: "eu-west-1", account: "123456789012" };
  let t: Template;
  let stack: Auth0SyncStack;
  beforeAll(() => {
    // Bundled for real: the handler is functions/reconcile/handler.ts. No credentials secret: the stack creates one.
    ({ template: t, stack } = synth({ reconcile: { schedule: "rate(12 hours)", driftAlarmShare: 0.1 }, create: { bulk: "off" } }, true));
  }, 120_000);

  const logical = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
  const reconcileFn = () => {
    const r = stack.pipeline.reconcile;
    expect(r).toBeDefined();
    return t.findResources("AWS::Lambda::Function")[logical(r!.fn)] as { Properties: Record<string, unknown> };
  };

  it("adds a third Lambda, named after the stack, with 15 minutes, one instance at a time, the queue, the ledger and the created secret", () => {
    expect(Object.keys(t.findResources("AWS::Lambda::Function"))).toHaveLength(3);
    const p = reconcileFn().Properties;
    expect(p.FunctionName).toBe("test-reconcile");
    expect(stack.pipeline.reconcile!.functionName).toBe("test-reconcile");
    expect(p.Timeout).toBe(900);
    expect(p.ReservedConcurrentExecutions).toBe(1);
    expect([p.Runtime, p.Architectures, p.Handler]).toEqual(["nodejs24.x", ["arm64"], "index.handler"]);
    expect((p.Environment as { Variables: Record<string, unknown> }).Variables).toEqual({
      POWERTOOLS_SERVICE_NAME: "test-sync-reconcile",
      POWERTOOLS_METRICS_NAMESPACE: "Auth0Sync",
      POWERTOOLS_LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
      QUEUE_URL: { Ref: logical(stack.pipeline.queue) },
      LEDGER_TABLE: { Ref: logical(stack.pipeline.ledger.table) },
      AUTH0_CREDENTIALS_SECRET_ARN: { Ref: expect.stringMatching(/^PipelineAuth0Credentials/) },
    });
    expect(p.LoggingConfig).toEqual({ LogGroup: { Ref: expect.stringMatching(/reconcilelogs/) } });
    expect(t.findOutputs("ReconcileFunctionName").ReconcileFunctionName?.Value).toEqual({ Ref: logical(stack.pipeline.reconcile!.fn) });
  });

  it("schedules the reconcile on its own expression, with the schedule DLQ and the schedule's input", () => {
    t.resourceCountIs("AWS::Scheduler::Schedule", 2);
    t.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "rate(12 hours)",
      State: "ENABLED",
      Target: {
        Arn: { "Fn::GetAtt": [logical(stack.pipeline.reconcile!.fn), "Arn"] },
        Input: JSON.stringify({ source: "schedule" }),
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 },
        DeadLetterConfig: { Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("ScheduleDeadLetterQueue"), "Arn"] } },
      },
    });
  });

  it("grants its role exactly the handler's calls: the ledger, SendMessage, the credentials secret, the warehouse read (a warehouse source: only users a row claims are adopted) and invoking itself only", () => {
    const statements = roleStatements(t, "auth0-sync test-sync reconcile");
    expect(grantedActions(statements)).toEqual([
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Scan",
      "lambda:InvokeFunction",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "redshift-data:DescribeStatement",
      "redshift-data:ExecuteStatement",
      "redshift-data:GetStatementResult",
      "redshift-serverless:GetCredentials",
      "secretsmanager:GetSecretValue",
      "sqs:GetQueueAttributes",
      "sqs:SendMessage",
    ]);
    const on = (action: string) => statements.filter((s) => [s.Action].flat().includes(action)).flatMap((s) => [s.Resource].flat().map((r) => resolve(r, PSEUDO)));
    expect(on("dynamodb:Scan")).toEqual([`logical:${logical(stack.pipeline.ledger.table)}`]);
    expect(on("sqs:SendMessage")).toEqual([`logical:${logical(stack.pipeline.queue)}`]);
    expect(on("secretsmanager:GetSecretValue")).toEqual([expect.stringMatching(/^logical:PipelineAuth0Credentials/)]);
    // Its own unqualified ARN, from the name: no reference to the function (which depends on this policy).
    expect(on("lambda:InvokeFunction")).toEqual(["arn:aws:lambda:eu-west-1:123456789012:function:test-reconcile"]);
    // The extractor's and consumer's roles are as before: nobody else may invoke or batch-write.
    for (const fn of ["extractor", "consumer"]) {
      const other = grantedActions(roleStatements(t, `auth0-sync test-sync ${fn}`));
      expect(other.filter((a) => a.startsWith("lambda:") || a === "dynamodb:BatchWriteItem"), fn).toEqual([]);
    }
  });

  it("alarms when the drifted share of managed users exceeds driftAlarmShare (max over the reconcile's period), and when it fails", () => {
    t.resourceCountIs("AWS::CloudWatch::Alarm", 9);
    const metric = (name: string) => ({
      Id: Match.anyValue(),
      MetricStat: {
        Metric: { Namespace: "Auth0Sync", MetricName: name, Dimensions: [{ Name: "service", Value: "test-sync-reconcile" }] },
        Period: 43_200,
        Stat: "Maximum",
      },
      ReturnData: false,
    });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "auth0-sync-test-sync-ReconcileDriftHigh",
      Threshold: 0.1,
      ComparisonOperator: "GreaterThanThreshold",
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
      Metrics: Match.arrayWith([Match.objectLike({ Expression: "IF(managed > 0, drifted / managed, 0)", ReturnData: true }), metric("ReconcileManaged"), metric("ReconcileDrifted")]),
    });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", {
      AlarmName: "auth0-sync-test-sync-ReconcileFailed",
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: { Ref: logical(stack.pipeline.reconcile!.fn) } }],
      Threshold: 0,
    });
  });

  it("draws a reconcile row on the dashboard, and its errors, throttles and duration with the other Lambdas'", () => {
    const dash = Object.values(t.findResources("AWS::CloudWatch::Dashboard"))[0] as { Properties: { DashboardBody: unknown } };
    const body = JSON.stringify(dash.Properties.DashboardBody);
    for (const text of ["ReconcileUsersScanned", "ReconcileManaged", "ReconcileDrifted", "ReconcileRepaired", "ReconcileAdopted", "ReconcileAuth0Calls", "drifted / managed", "reconcile errors", "reconcile throttles", "ReconcileDriftHigh"]) {
      expect(body, text).toContain(text);
    }
  });

  it("passes cdk-nag with the config's own secret and tracing (one more acknowledged X-Ray finding), and no created secret in its environment", () => {
    // synth throws on any unacknowledged finding.
    const { template } = synth({
      reconcile: {},
      lambda: { tracing: true },
      auth0: { domain: "acme.eu.auth0.com", connection: "db", credentialsSecretArn: SECRET },
    });
    const fn = Object.values(template.findResources("AWS::Lambda::Function", { Properties: { FunctionName: "test-reconcile" } }))[0] as { Properties: { Environment: { Variables: Record<string, unknown> }; TracingConfig: unknown } };
    expect(fn.Properties.Environment.Variables.AUTH0_CREDENTIALS_SECRET_ARN).toBeUndefined();
    expect(fn.Properties.TracingConfig).toEqual({ Mode: "Active" });
    template.hasResourceProperties("AWS::Scheduler::Schedule", { ScheduleExpression: "rate(1 day)" });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", { AlarmName: "auth0-sync-test-sync-ReconcileDriftHigh", Threshold: 0.05 });
    const statements = roleStatements(template, "auth0-sync test-sync reconcile");
    expect(statements.filter((s) => [s.Action].flat().includes("secretsmanager:GetSecretValue")).map((s) => s.Resource)).toEqual([SECRET]);
  });

  it("refuses a stack name that makes the function name longer than Lambda allows", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    expect(() => new Auth0SyncStack(app, "s".repeat(60), { config: testConfig({ reconcile: {} }), env: { account: "123456789012", region: "eu-west-1" } })).toThrow(/longer than 64 characters/);
  });
});

describe("stack variants", () => {
  it("creates an empty credentials secret to fill when the config names none, and passes its ARN (not its value)", () => {
    const { template } = synth({ alarms: { email: "ops@example.com" }, ledger: { deletionProtection: false } });
    template.resourceCountIs("AWS::SecretsManager::Secret", 1);
    template.hasResource("AWS::DynamoDB::GlobalTable", { DeletionPolicy: "Delete" });
    template.hasResourceProperties("AWS::DynamoDB::GlobalTable", { Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })] });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: Match.objectLike({ AUTH0_CREDENTIALS_SECRET_ARN: { Ref: Match.stringLikeRegexp("Auth0Credentials") } }) },
    });
    template.hasResourceProperties("AWS::SNS::Subscription", { Protocol: "email", Endpoint: "ops@example.com" });
  });

  it("scopes a provisioned cluster exactly, reads its secret, and honours tracing, reserved concurrency and a daily cron", () => {
    const { template } = synth({
      source: { clusterIdentifier: "analytics-1", database: "dev", sql: "SELECT 1", secretArn: RS_SECRET },
      schedule: "cron(0 3 * * ? *)",
      lambda: { tracing: true, reservedConcurrency: 4 },
      auth0: { domain: "acme.eu.auth0.com", connection: "db", rateLimit: { requestsPerSecond: 30, burst: 50 } },
    });
    const ext = JSON.stringify(policyOf(template, "extractor"));
    expect(ext).toContain(":redshift:eu-west-1:123456789012:cluster:analytics-1");
    expect(ext).toContain(RS_SECRET);
    expect(ext).not.toContain("GetCredentials");
    template.hasResourceProperties("AWS::Lambda::Function", { TracingConfig: { Mode: "Active" }, ReservedConcurrentExecutions: 4 });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", { ScalingConfig: { MaximumConcurrency: 4 } });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", { MetricName: "RunsSucceeded", Period: 86400, EvaluationPeriods: 2 });
  });

  it("uses an exact workgroup ARN when the config gives one", () => {
    const arn = "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/0f1e2d3c-aaaa-bbbb-cccc-123456789012";
    const { template } = synth({ source: { workgroupName: "wg", workgroupArn: arn, database: "dev", sql: "SELECT 1" } });
    expect(policyOf(template, "extractor")).toContainEqual({ Action: "redshift-data:ExecuteStatement", Effect: "Allow", Resource: arn });
  });

  it("refuses reserved concurrency below maxConcurrency", () => {
    expect(() => testConfig({ lambda: { reservedConcurrency: 2 }, auth0: { domain: "a.auth0.com", connection: "db", rateLimit: { requestsPerSecond: 40, burst: 50 } } })).toThrow(
      /lambda\.reservedConcurrency: must be at least the consumer's maxConcurrency \(5\)/,
    );
    // With roles, the consumer also reads the writes queue, with two instances of its own.
    expect(() => testConfig({ roles: { column: "roles", removeUnlisted: true }, lambda: { reservedConcurrency: 5 }, auth0: { domain: "a.auth0.com", connection: "db", rateLimit: { requestsPerSecond: 40, burst: 50 } } })).toThrow(
      /lambda\.reservedConcurrency: must be at least the consumer's maxConcurrency \(7: 5 on the queue and 2 on the writes queue\)/,
    );
  });
});

describe("cdk synth", () => {
  it("fails with every problem of a bad config, by field path", () => {
    const dir = tempDir();
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "name: Bad Name\nsource: { workgroupName: wg, database: dev, sql: 'SELECT 1' }\nauth0: { domain: 'https://x.auth0.com', connection: db }\nmapping: { given_name: 42 }\n");
    const res = spawnSync(process.execPath, ["--import", "tsx", "bin/app.ts"], { encoding: "utf8", env: { ...process.env, SYNC_CONFIG_FILE: bad, CDK_OUTDIR: dir } });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain(`Invalid sync config ${bad}:`);
    expect(res.stderr).toContain("  - mapping.given_name: expected a column name, got 42");
    expect(res.stderr).toContain("  - auth0.domain: expected a bare host name");
    expect(res.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it("refuses a tenant copy whose target is its source, by domain or by base URL, naming the source (issue 24, point 1)", () => {
    const dir = tempDir();
    const copy = readFileSync(new URL("../../config/tenant-copy.yml", import.meta.url), "utf8");
    const source = /^\s+domain:\s*(\S+)/m.exec(copy.slice(copy.indexOf("source:")))![1]!;
    const target = /^auth0:.*\n\s+domain:\s*(\S+)/m.exec(copy)![1]!;
    for (const [name, text, field] of [
      ["by-domain.yml", copy.replace(`domain: ${target}`, `domain: ${source.toUpperCase()}`), "auth0.domain"],
      ["by-url.yml", copy.replace(`domain: ${target}`, `domain: ${target}\n  baseUrl: https://${source}`), "auth0.baseUrl"],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const res = spawnSync(process.execPath, ["--import", "tsx", "bin/app.ts"], { encoding: "utf8", env: { ...process.env, SYNC_CONFIG_FILE: file, CDK_OUTDIR: dir } });
      expect(res.status, name).toBe(1);
      expect(res.stderr).toContain(`  - ${field}: is the source tenant (source.domain ${source})`);
    }
  });
});
