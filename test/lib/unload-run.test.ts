/**
 * The stack of a config that unloads (source.extract: unload): the state machine (Standard, a DISTRIBUTED Map over
 * the unloaded files with its retries, the finishing step and the failure path), the bucket (encrypted, SSL only,
 * files gone within a day), the segment worker's role, the schedule starting the state machine; cdk-nag clean.
 */
import { App, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { UNLOAD_STATES } from "../../functions/core/unload-state-machine.js";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import { testConfig } from "../helpers/config.js";
import { resolve, roleStatements } from "../helpers/iam.js";

const ROLE = "arn:aws:iam::123456789012:role/redshift-unload";
const PSEUDO = { region: "eu-west-1", account: "123456789012" };

/** The actions of the policies attached to the role whose logical id starts with `prefix`. */
function actionsOfRole(t: Template, prefix: string): string[] {
  const [roleId] = Object.keys(t.findResources("AWS::IAM::Role")).filter((id) => id.startsWith(prefix));
  return Object.values(t.findResources("AWS::IAM::Policy"))
    .map((p) => (p as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: { Action: string | string[] }[] } } }).Properties)
    .filter((p) => p.Roles.some((r) => r.Ref === roleId))
    .flatMap((p) => p.PolicyDocument.Statement.flatMap((s) => [s.Action].flat()));
}

function synth(source: Record<string, unknown>): Template {
  const config = testConfig({ source: { workgroupName: "wg", database: "dev", sql: "SELECT * FROM app_users", ...source } });
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Auth0SyncStack(app, "test", { config, env: { account: "123456789012", region: "eu-west-1" } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return Template.fromStack(stack);
}

type Definition = { States: Record<string, Record<string, unknown>> };
function definitionOf(t: Template): Definition {
  const [machine] = Object.values(t.findResources("AWS::StepFunctions::StateMachine")) as { Properties: { DefinitionString: unknown } }[];
  return JSON.parse(resolve(machine?.Properties.DefinitionString, PSEUDO)) as Definition;
}

describe("the stack of a config that unloads", () => {
  let t: Template;
  beforeAll(() => {
    t = synth({ extract: "unload", unload: { iamRole: ROLE, maxConcurrency: 25 } });
  });

  it("a Standard state machine: UNLOAD and its wait loop as SDK integrations, a DISTRIBUTED Map with retries, then the finish", () => {
    t.hasResourceProperties("AWS::StepFunctions::StateMachine", { StateMachineType: "STANDARD", StateMachineName: "test-sync-unload-run" });
    const d = definitionOf(t);
    const S = UNLOAD_STATES;
    expect(d.States[S.unload]).toMatchObject({ Type: "Task", Resource: "arn:aws:states:::aws-sdk:redshiftdata:executeStatement", Next: S.wait });
    expect(d.States[S.describe]).toMatchObject({ Resource: "arn:aws:states:::aws-sdk:redshiftdata:describeStatement" });
    expect(d.States[S.wait]).toMatchObject({ Type: "Wait", Next: S.describe });
    const map = d.States[S.segments] as { ItemProcessor: { ProcessorConfig: unknown; States: Record<string, { Retry: unknown }> } };
    expect(map).toMatchObject({ Type: "Map", MaxConcurrency: 25, ToleratedFailurePercentage: 0, Next: S.finish, ItemReader: { Resource: "arn:aws:states:::s3:getObject", ReaderConfig: { InputType: "JSON" } } });
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: "DISTRIBUTED", ExecutionType: "STANDARD" });
    const worker = map.ItemProcessor.States[S.segment];
    expect(worker?.Retry).toEqual(expect.arrayContaining([expect.objectContaining({ ErrorEquals: ["States.ALL"], MaxAttempts: 3, BackoffRate: 2 })]));
    expect(d.States[S.finish]).toMatchObject({ Next: S.done });
    // Every step from the UNLOAD on fails into the run's failure step, which records it and releases the lock.
    for (const s of [S.unload, S.describe, S.plan, S.segments, S.finish]) expect(d.States[s]!.Catch).toEqual([expect.objectContaining({ ErrorEquals: ["States.ALL"], Next: S.failure })]);
    // Every failure is stamped with the attempt (RedriveCount) it happened in, then goes to the failure step.
    expect(d.States[S.failure]).toEqual({ Type: "Pass", Parameters: { "attempt.$": "$$.Execution.RedriveCount" }, ResultPath: "$.failure", Next: S.fail });
    // The failure step fails itself (no Catch): the execution fails there, so a redrive reruns it with the run's state.
    expect(d.States[S.fail]).toMatchObject({ Next: S.resume, ResultPath: "$.resume", Parameters: { Payload: { step: "unload-fail", "redriveCount.$": "$$.Execution.RedriveCount", "state.$": "$" } } });
    expect(d.States[S.fail]!.Catch).toBeUndefined();
    const resume = d.States[S.resume] as { Type: string; Choices: { Variable: string; StringEquals: string; Next: string }[]; Default: string };
    expect(resume.Type).toBe("Choice");
    expect(resume.Choices.map((c) => c.Next)).toEqual([S.unload, S.wait, S.plan, S.segments]);
    expect(resume.Choices.every((c) => c.Variable === "$.resume.at" && c.StringEquals === c.Next)).toBe(true);
    expect(d.States[S.failed]).toMatchObject({ Type: "Fail" });
    // extract: unload never measures: no query states.
    expect(d.States[S.query]).toBeUndefined();
    expect(d.States[S.read]).toBeUndefined();
  });

  it("extract: auto with UNLOAD measures first: the extractor executes and describes its query (its owner), the state machine waits, a Choice by ResultSize", () => {
    const auto = synth({ extract: "auto", unload: { iamRole: ROLE, autoDataApiMaxMb: 50 } });
    const d = definitionOf(auto);
    const S = UNLOAD_STATES;
    // The extractor may run and read its own statements here; with extract: unload it runs none.
    const extractorActions = (tpl: Template) => roleStatements(tpl, "auth0-sync test-sync extractor").flatMap((s) => [s.Action].flat());
    expect(extractorActions(auto)).toEqual(expect.arrayContaining(["redshift-data:ExecuteStatement", "redshift-data:DescribeStatement", "redshift-data:GetStatementResult"]));
    expect(extractorActions(t)).not.toContain("redshift-data:ExecuteStatement");
    expect(d.States[S.skipped]).toMatchObject({ Choices: expect.arrayContaining([{ Variable: "$.start.measure", BooleanEquals: true, Next: S.query }]) });
    expect(d.States[S.query]).toMatchObject({ Resource: "arn:aws:states:::lambda:invoke", Parameters: { Payload: { step: "query-execute" } }, ResultPath: "$.query", Next: S.waitQuery });
    expect(d.States[S.waitQuery]).toMatchObject({ Type: "Wait", Next: S.describeQuery });
    expect(d.States[S.describeQuery]).toMatchObject({ Resource: "arn:aws:states:::lambda:invoke", Parameters: { Payload: { step: "query-describe", "statementId.$": "$.query.Id" } }, ResultPath: "$.measured", Next: S.measured });
    const choice = d.States[S.measured] as { Choices: { Next: string; And?: Record<string, unknown>[] }[]; Default: string };
    expect(choice.Choices[0]).toEqual({
      And: [
        { Variable: "$.measured.Status", StringEquals: "FINISHED" },
        { Variable: "$.measured.ResultSize", NumericGreaterThanEquals: 0 },
        { Variable: "$.measured.ResultSize", NumericLessThanEquals: 50 * 2 ** 20 },
      ],
      Next: S.read,
    });
    expect(choice.Choices.slice(1, 3)).toEqual([
      { Variable: "$.measured.Status", StringEquals: "FINISHED", Next: S.unload },
      { Variable: "$.measured.TooLarge", BooleanEquals: true, Next: S.unload },
    ]);
    expect(choice.Default).toBe(S.waitQuery);
    expect(d.States[S.read]).toMatchObject({ Parameters: { Payload: { step: "read-result", "statementId.$": "$.query.Id" } }, Next: S.done });
    // Refused by the Data API as over its limit: unloaded instead; any other failure fails the run.
    expect(d.States[S.read]!.Catch).toEqual([{ ErrorEquals: ["ResultTooLargeError"], ResultPath: "$.refused", Next: S.unload }, expect.objectContaining({ ErrorEquals: ["States.ALL"], Next: S.failure })]);
    const resume = d.States[S.resume] as { Choices: { Next: string }[] };
    expect(resume.Choices.map((c) => c.Next)).toEqual([S.query, S.waitQuery, S.unload, S.wait, S.plan, S.segments]);
  });

  it("the bucket: encrypted, SSL only, no public access, unloaded files expire after a day", () => {
    t.hasResourceProperties("AWS::S3::Bucket", {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 1, Status: "Enabled" })] },
    });
    t.hasResourceProperties("AWS::S3::BucketPolicy", {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } })]) },
    });
  });

  it("the schedule starts the state machine; the state machine may invoke the two functions, run its statement, read the items and start its children", () => {
    t.hasResourceProperties("AWS::Scheduler::Schedule", { Target: { Arn: Match.objectLike({ Ref: Match.stringLikeRegexp("UnloadRunStateMachine") }), RetryPolicy: { MaximumRetryAttempts: 2 } } });
    const actions = actionsOfRole(t, "PipelineUnloadRunStateMachineRole");
    for (const a of ["lambda:InvokeFunction", "redshift-data:ExecuteStatement", "redshift-data:DescribeStatement", "s3:GetObject", "states:StartExecution", "states:DescribeExecution", "states:StopExecution"]) expect(actions).toContain(a);
    expect(actions).not.toContain("redshift-data:GetStatementResult");
    const segment = roleStatements(t, "auth0-sync test-sync segment").flatMap((s) => [s.Action].flat());
    expect(segment).toEqual(expect.arrayContaining(["s3:GetObject", "s3:PutObject", "sqs:SendMessage", "dynamodb:PutItem", "dynamodb:GetItem"]));
    expect(segment).not.toContain("s3:DeleteObject");
  });

  it("alarms on a failed or timed-out execution and on segment worker errors; the dashboard shows executions, their duration and the segments", () => {
    t.hasResourceProperties("AWS::CloudWatch::Alarm", { AlarmName: Match.stringLikeRegexp("UnloadRunFailed$"), Threshold: 0, Metrics: Match.arrayWith([Match.objectLike({ Expression: "failed + timedOut" })]) });
    t.hasResourceProperties("AWS::CloudWatch::Alarm", { AlarmName: Match.stringLikeRegexp("SegmentWorkerErrors$"), MetricName: "Errors", Namespace: "AWS/Lambda" });
    const [dashboard] = Object.values(t.findResources("AWS::CloudWatch::Dashboard")) as { Properties: { DashboardBody: unknown } }[];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const text of ["Unload runs: executions", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionTime", "SegmentsDone", "Segment workers"]) expect(body).toContain(text);
  });

  it("a config's own bucket is used as it is; a Data API config has no state machine, bucket or segment worker", () => {
    const own = synth({ extract: "unload", unload: { iamRole: ROLE, bucket: "acme-unload" } });
    own.resourceCountIs("AWS::S3::Bucket", 0);
    expect(JSON.stringify(definitionOf(own))).toContain('"Bucket":"acme-unload"');
    const plain = synth({});
    plain.resourceCountIs("AWS::StepFunctions::StateMachine", 0);
    plain.resourceCountIs("AWS::S3::Bucket", 0);
  });
});
