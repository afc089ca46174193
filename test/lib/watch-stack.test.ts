/**
 * The watch in the deployable stack (config `watch`): the rule on the partner event bus with exactly the core's
 * event pattern, the watch queue with its own DLQ, the watch Lambda's event source and least-privilege role, the
 * ledger's users index, the alarms, dashboard row and outputs; and none of it without the watch.
 */
import { App, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { type SyncConfig, type SyncConfigInput } from "../../functions/core/config.js";
import { watchEventPattern } from "../../functions/core/watch.js";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import { LEDGER_ACTIONS } from "../../lib/ledger-table.js";
import { WATCH_DELIVERY } from "../../functions/core/watch.js";
import { configProblems, testConfig } from "../helpers/config.js";
import { grantedActions, resolve, roleStatements } from "../helpers/iam.js";

const PSEUDO = { region: "eu-west-1", account: "123456789012" };
const SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-m2m-AbCdEf";
const EVENT_SOURCE = "aws.partner/auth0.com/acme-0123abcd-4567-89ef-0123-456789abcdef/auth0.logs";
const CLIENT_ID = "SyncM2mClientId0123456789";
const IGNORED = ["ProvisioningJobClient", "SupportToolClient"];
const AUTH0 = { domain: "acme.eu.auth0.com", connection: "Username-Password-Authentication", credentialsSecretArn: SECRET, clientId: CLIENT_ID };

/** Synthesises with cdk-nag's AwsSolutions checks (synth throws on an unacknowledged finding); Lambdas not bundled. */
function synth(over: Partial<SyncConfigInput> = {}): { template: Template; config: SyncConfig; stack: Auth0SyncStack } {
  const config = testConfig(over);
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Auth0SyncStack(app, "test", { config, env: PSEUDO });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return { template: Template.fromStack(stack), config, stack };
}

type Props = Record<string, unknown>;
const propsOf = (t: Template, type: string): [string, Props][] => Object.entries(t.findResources(type)).map(([id, r]) => [id, (r as { Properties: Props }).Properties]);

describe("the watch (config watch enabled)", () => {
  let t: Template;
  let stack: Auth0SyncStack;
  let config: SyncConfig;
  const logical = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
  beforeAll(() => {
    ({ template: t, stack, config } = synth({ auth0: AUTH0, create: { bulk: "off" }, watch: { eventSource: EVENT_SOURCE, ignoreClients: IGNORED, alarmEditsPerHour: 40 } }));
  }, 120_000);

  it("puts a rule on the partner event bus named after the event source, with exactly the core's pattern", () => {
    const rules = propsOf(t, "AWS::Events::Rule");
    expect(rules).toHaveLength(1);
    const rule = rules[0]![1];
    expect(rule.EventBusName).toBe(EVENT_SOURCE);
    expect(rule.State).toBe("ENABLED");
    // The one definition: the deployed pattern is the core's output for the sync's own and the ignored clients.
    expect(rule.EventPattern).toEqual(watchEventPattern([CLIENT_ID, ...IGNORED]));
    // And what that is: Auth0's partner sources, successful Management API operations, any client but the sync's
    // own and the ignored ones, the write methods, the paths of users, roles and organizations.
    const pattern = rule.EventPattern as { source: unknown; detail: { data: { type: unknown; client_id: { "anything-but": string[] }[]; details: { request: { method: string[]; path: unknown } } } } };
    expect(pattern.source).toEqual([{ prefix: "aws.partner/auth0.com" }]);
    expect(pattern.detail.data.type).toEqual(["sapi"]);
    expect(pattern.detail.data.client_id).toHaveLength(1);
    expect([...pattern.detail.data.client_id[0]!["anything-but"]].sort()).toEqual([CLIENT_ID, ...IGNORED].sort());
    expect(pattern.detail.data.details.request.method).toEqual(expect.arrayContaining(["POST", "PATCH", "PUT", "DELETE"]));
    expect(pattern.detail.data.details.request.method).not.toContain("GET");
    expect(pattern.detail.data.details.request.path).toEqual([{ prefix: "/api/v2/users/" }, { prefix: "/api/v2/roles/" }, { prefix: "/api/v2/organizations/" }]);
    // The stack creates no event bus: the customer associates Auth0's partner event source with one.
    t.resourceCountIs("AWS::Events::EventBus", 0);
  });

  it("targets the watch queue, with the watch DLQ for events EventBridge cannot deliver, and lets only that rule send", () => {
    const rule = propsOf(t, "AWS::Events::Rule")[0]!;
    const targets = rule[1].Targets as Props[];
    expect(targets).toHaveLength(1);
    expect(targets[0]!.Arn).toEqual({ "Fn::GetAtt": [logical(stack.pipeline.watch!.queue), "Arn"] });
    expect(targets[0]!.DeadLetterConfig).toEqual({ Arn: { "Fn::GetAtt": [logical(stack.pipeline.watch!.dlq), "Arn"] } });
    expect(targets[0]!.Input).toBeUndefined();
    for (const q of [stack.pipeline.watch!.queue, stack.pipeline.watch!.dlq]) {
      const policies = propsOf(t, "AWS::SQS::QueuePolicy").filter(([, p]) => JSON.stringify(p.Queues).includes(logical(q)));
      const statements = policies.flatMap(([, p]) => (p.PolicyDocument as { Statement: Props[] }).Statement);
      const fromEvents = statements.filter((s) => JSON.stringify(s.Principal).includes("events.amazonaws.com"));
      expect(fromEvents, logical(q)).toHaveLength(1);
      // (CDK's SqsQueue target grants the queue SendMessage with GetQueueAttributes and GetQueueUrl; the DLQ SendMessage.)
      expect([fromEvents[0]!.Action].flat()).toContain("sqs:SendMessage");
      expect(fromEvents[0]!.Condition).toEqual({ ArnEquals: { "aws:SourceArn": { "Fn::GetAtt": [rule[0], "Arn"] } } });
      expect(JSON.stringify(statements)).toContain('"aws:SecureTransport":"false"');
    }
  });

  it("gives the watch queue SSE, 6 x the watch's timeout, and its own 14-day DLQ after 5 receives, which only it may use", () => {
    expect(WATCH_DELIVERY.timeoutSeconds).toBe(60);
    t.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "auth0-sync-test-sync-watch",
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 360,
      RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": [logical(stack.pipeline.watch!.dlq), "Arn"] }, maxReceiveCount: 5 },
    });
    t.hasResourceProperties("AWS::SQS::Queue", {
      QueueName: "auth0-sync-test-sync-watch-dlq",
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86400,
      RedriveAllowPolicy: { redrivePermission: "byQueue", sourceQueueArns: [{ "Fn::Join": ["", Match.arrayWith([":sqs:eu-west-1:123456789012:auth0-sync-test-sync-watch"])] }] },
    });
    // Not the sync's DLQ: that one stays the main queue's alone.
    expect(stack.pipeline.watch!.dlq).not.toBe(stack.pipeline.dlq);
    const syncDlq = propsOf(t, "AWS::SQS::Queue").find(([, p]) => p.QueueName === "auth0-sync-test-sync-dlq")![1];
    expect(JSON.stringify(syncDlq.RedriveAllowPolicy)).not.toContain("watch");
  });

  it("drains the watch queue with the watch Lambda: 100 events over 5 s, at most two at once, partial batch responses", () => {
    const fn = stack.pipeline.watch!.fn;
    const mappings = propsOf(t, "AWS::Lambda::EventSourceMapping").filter(([, p]) => JSON.stringify(p.FunctionName) === JSON.stringify({ Ref: logical(fn) }));
    expect(mappings).toHaveLength(1);
    expect(mappings[0]![1]).toMatchObject({
      EventSourceArn: { "Fn::GetAtt": [logical(stack.pipeline.watch!.queue), "Arn"] },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 5,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
    });
    t.hasResourceProperties("AWS::Lambda::Function", {
      Timeout: 60,
      Handler: "index.handler",
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Environment: {
        Variables: Match.objectLike({
          QUEUE_URL: { Ref: logical(stack.pipeline.queue) },
          LEDGER_TABLE: { Ref: logical(stack.pipeline.ledger.table) },
          POWERTOOLS_SERVICE_NAME: "test-sync-watch",
          POWERTOOLS_METRICS_NAMESPACE: "Auth0Sync",
        }),
      },
    });
  });

  it("grants the watch exactly its calls: the ledger's watch actions on the table, Query on the users index only, SendMessage to the main queue, the credentials secret", () => {
    const statements = roleStatements(t, "auth0-sync test-sync watch");
    expect(grantedActions(statements)).toEqual(
      [
        ...LEDGER_ACTIONS.watch.map((a) => `dynamodb:${a}`),
        "dynamodb:Query",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        // The event source mapping's, on the watch queue.
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
      ].sort(),
    );
    expect([...LEDGER_ACTIONS.watch].sort()).toEqual(["BatchGetItem", "GetItem", "PutItem", "UpdateItem"]);
    const table = `logical:${logical(stack.pipeline.ledger.table)}`;
    const resourcesOf = (action: string) => statements.filter((s) => [s.Action].flat().includes(action)).flatMap((s) => [s.Resource].flat().map((r) => resolve(r, PSEUDO)));
    for (const a of LEDGER_ACTIONS.watch) expect(resourcesOf(`dynamodb:${a}`), a).toEqual([table]);
    expect(resourcesOf("dynamodb:Query")).toEqual([`${table}/index/users`]);
    expect(resourcesOf("sqs:SendMessage")).toEqual([`logical:${logical(stack.pipeline.queue)}`]);
    expect(resourcesOf("sqs:ReceiveMessage")).toEqual([`logical:${logical(stack.pipeline.watch!.queue)}`]);
    expect(resourcesOf("secretsmanager:GetSecretValue")).toEqual([SECRET]);
  });

  it("adds the sparse users index (keys only) to the ledger, next to the runs index", () => {
    const table = propsOf(t, "AWS::DynamoDB::GlobalTable")[0]![1];
    expect(table.GlobalSecondaryIndexes).toEqual([
      expect.objectContaining({ IndexName: "runs" }),
      { IndexName: "users", KeySchema: [{ AttributeName: "userId", KeyType: "HASH" }], Projection: { ProjectionType: "KEYS_ONLY" } },
    ]);
    expect(table.AttributeDefinitions).toContainEqual({ AttributeName: "userId", AttributeType: "S" });
  });

  it("alarms on outside edits per hour over the config's threshold, on the watch DLQ, and on the watch's errors", () => {
    const alarms = new Map(propsOf(t, "AWS::CloudWatch::Alarm").map(([, p]) => [p.AlarmName as string, p]));
    expect(alarms.get("auth0-sync-test-sync-WatchOutsideEditsHigh")).toMatchObject({
      Namespace: "Auth0Sync",
      MetricName: "WatchOutsideEdits",
      Dimensions: [{ Name: "service", Value: "test-sync-watch" }],
      Statistic: "Sum",
      Period: 3600,
      Threshold: 40,
      ComparisonOperator: "GreaterThanThreshold",
      TreatMissingData: "notBreaching",
    });
    expect(String(alarms.get("auth0-sync-test-sync-WatchOutsideEditsHigh")!.AlarmDescription)).toMatch(/fighting the sync/);
    expect(alarms.get("auth0-sync-test-sync-WatchDlqNotEmpty")).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [logical(stack.pipeline.watch!.dlq), "QueueName"] } }],
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      TreatMissingData: "notBreaching",
    });
    expect(alarms.get("auth0-sync-test-sync-WatchErrors")).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: { Ref: logical(stack.pipeline.watch!.fn) } }],
      Threshold: 0,
    });
    // Every alarm to the topic, ALARM and OK.
    const topic = { Ref: logical(stack.observability.topic) };
    for (const name of ["WatchOutsideEditsHigh", "WatchDlqNotEmpty", "WatchErrors"]) {
      const a = alarms.get(`auth0-sync-test-sync-${name}`)!;
      expect([a.AlarmActions, a.OKActions], name).toEqual([[topic], [topic]]);
    }
    expect(alarms.size).toBe(7 + 3);
  });

  it("draws a watch row on the dashboard from the catalog's watch metrics, the watch queue and its DLQ", () => {
    const body = JSON.stringify(propsOf(t, "AWS::CloudWatch::Dashboard")[0]![1].DashboardBody);
    for (const m of ["WatchEvents", "WatchIgnored", "WatchOutsideEdits", "WatchRepaired", "WatchReported", "WatchFights", "WatchRepairedFields", "WatchAuth0Calls", "test-sync-watch", "Watch queue and DLQ", "WatchOutsideEditsHigh"]) {
      expect(body, m).toContain(m);
    }
    // The repaired fields by field: every Field the watch emitted, found by SEARCH among the watch's own metrics.
    expect(body).toMatch(/SEARCH\('\{Auth0Sync,Field,service\} MetricName=\W+WatchRepairedFields\W+service=\W+test-sync-watch\W+', 'Sum', 3600\)/);
  });

  it("outputs the watch queue, its DLQ and the watch Lambda", () => {
    const outputs = t.findOutputs("*");
    expect(outputs.WatchQueueUrl?.Value).toEqual({ Ref: logical(stack.pipeline.watch!.queue) });
    expect(outputs.WatchDlqUrl?.Value).toEqual({ Ref: logical(stack.pipeline.watch!.dlq) });
    expect(outputs.WatchFunctionName?.Value).toEqual({ Ref: logical(stack.pipeline.watch!.fn) });
    expect(config.watch?.enabled).toBe(true);
  });
});

describe("the watch with X-Ray tracing and a credentials secret the stack creates", () => {
  it("passes cdk-nag (the X-Ray finding acknowledged on the watch's role) and gives the watch the secret's ARN", () => {
    const { template, stack } = synth({ auth0: { ...AUTH0, credentialsSecretArn: undefined }, lambda: { tracing: true }, watch: { eventSource: EVENT_SOURCE } });
    const fn = template.findResources("AWS::Lambda::Function")[stack.getLogicalId(stack.pipeline.watch!.fn.node.defaultChild as never)] as { Properties: Props };
    expect(fn.Properties.TracingConfig).toEqual({ Mode: "Active" });
    const secret = { Ref: stack.getLogicalId(stack.pipeline.credentialsSecret.node.defaultChild as never) };
    expect((fn.Properties.Environment as { Variables: Props }).Variables.AUTH0_CREDENTIALS_SECRET_ARN).toEqual(secret);
    const statements = roleStatements(template, "auth0-sync test-sync watch");
    expect(statements.filter((s) => s.Action === "secretsmanager:GetSecretValue").map((s) => s.Resource)).toEqual([secret]);
    expect(grantedActions(statements)).toEqual(expect.arrayContaining(["xray:PutTraceSegments", "xray:PutTelemetryRecords"]));
  });
});

describe("without the watch", () => {
  it.each([
    ["absent", {}],
    ["disabled", { watch: { enabled: false, eventSource: EVENT_SOURCE } }],
  ])("%s: no rule, no watch queue or Lambda, no users index, no watch alarms or outputs", (_what, over) => {
    const { template, stack } = synth({ auth0: AUTH0, create: { bulk: "off" }, ...over });
    expect(stack.pipeline.watch).toBeUndefined();
    template.resourceCountIs("AWS::Events::Rule", 0);
    expect(propsOf(template, "AWS::SQS::Queue").map(([, p]) => p.QueueName)).not.toContain("auth0-sync-test-sync-watch");
    const table = propsOf(template, "AWS::DynamoDB::GlobalTable")[0]![1];
    expect((table.GlobalSecondaryIndexes as { IndexName: string }[]).map((i) => i.IndexName)).toEqual(["runs"]);
    // (CloudWatch aside.)
    expect(JSON.stringify(template.toJSON())).not.toMatch(/(?<!cloud)watch|"users"/i);
  });
});

describe("the watch's config", () => {
  it("refuses an enabled watch without the sync's own client id, at auth0.clientId", () => {
    const raw = {
      name: "test-sync",
      source: { workgroupName: "wg", database: "dev", sql: "SELECT * FROM app_users" },
      identity: { keyColumn: "id", emailColumn: "email" },
      auth0: { domain: "acme.eu.auth0.com", connection: "Username-Password-Authentication" },
      watch: { eventSource: EVENT_SOURCE },
    };
    expect(configProblems(raw).some((p) => p.startsWith("auth0.clientId"))).toBe(true);
    // Disabled, it needs none.
    expect(() => testConfig({ auth0: raw.auth0, watch: { enabled: false, eventSource: EVENT_SOURCE } })).not.toThrow();
  });
});
