/**
 * IAM of a config that unloads (source.unload): the state machine's role (its Data API SDK integrations, the Map's
 * ItemReader, the Lambda invocations), the segment worker's role, and what the extractor's unload steps add. As in
 * iam-coverage.test.ts, the run goes through the local pipeline with a recorder on every AWS client (the state
 * machine's own calls recorded as its role's), over a first sync and a mirror run; each call must be allowed by the
 * synthesized role (action and resource), and each role must hold nothing that no call and no AWS service needs. A
 * third run measures first (extract: auto): the extractor's own query, described and read.
 */
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { SyncConfig } from "../../functions/core/config.js";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import type { AwsCall, Caller } from "../../local/aws-calls.js";
import { runLocalPipeline, type LocalEnvironment } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { allows, grantedActions, type Statement } from "../helpers/iam.js";
import { tempDir } from "../helpers/tmp.js";

const PSEUDO = { region: "eu-west-1", account: "123456789012" };
const LOGS = { "logs:CreateLogStream": "Lambda writes the function's logs", "logs:PutLogEvents": "Lambda writes the function's logs" };
/** Actions a role holds for what AWS does on its behalf, not for a call of our code. */
const ON_BEHALF: Partial<Record<Caller, Record<string, string>>> = {
  segment: LOGS,
  states: {
    "states:StartExecution": "the Distributed Map starts its child executions",
    "states:DescribeExecution": "the Distributed Map follows its child executions",
    "states:StopExecution": "the Distributed Map stops its child executions when it fails",
    "redshift-serverless:GetCredentials": "the Data API gets temporary database credentials for the role (no source.secretArn)",
    "logs:CreateLogDelivery": "Step Functions delivers the execution log",
    "logs:GetLogDelivery": "Step Functions delivers the execution log",
    "logs:UpdateLogDelivery": "Step Functions delivers the execution log",
    "logs:DeleteLogDelivery": "Step Functions delivers the execution log",
    "logs:ListLogDeliveries": "Step Functions delivers the execution log",
    "logs:PutResourcePolicy": "Step Functions delivers the execution log",
    "logs:DescribeResourcePolicies": "Step Functions delivers the execution log",
    "logs:DescribeLogGroups": "Step Functions delivers the execution log",
  },
};

const actionOf = (c: AwsCall): string => {
  if (c.service === "lambda" && c.operation === "Invoke") return "lambda:InvokeFunction";
  if (c.service === "sqs" && c.operation === "SendMessageBatch") return "sqs:SendMessage";
  // HeadObject and ranged GETs are both authorized as s3:GetObject.
  if (c.service === "s3" && c.operation === "HeadObject") return "s3:GetObject";
  return `${c.service}:${c.operation}`;
};

describe("IAM coverage of a config that unloads: the state machine, the segment worker, the extractor's steps", () => {
  const calls: AwsCall[] = [];
  const local = { table: "", bucket: "" };
  let config: SyncConfig;
  let template: Template;

  beforeAll(async () => {
    config = exampleConfigWith({
      // The stack of extract: auto (it unloads large results); the first two runs unload whatever the size.
      source: { extract: "auto", unload: { iamRole: "default" } },
      mirror: { enabled: true, action: "delete", threshold: { maxCount: 1000, maxShare: 0.9 } },
    });
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const remember = (env: LocalEnvironment) => void Object.assign(local, { table: env.ledgerFor!().tableName, bucket: env.unloadBucket });
    const rows = demoRows(30);
    await runLocalPipeline({ config, stateDir, csv: writeCsv(join(dir, "a.csv"), rows), rate: 500, slices: 3, awsCalls: calls, onEnvironment: remember, extract: "unload" });
    // A row gone (mirror mode reads the keys files, then deletes) and the unchanged check by lookup.
    await runLocalPipeline({ config, stateDir, csv: writeCsv(join(dir, "b.csv"), rows.slice(1)), rate: 500, slices: 3, awsCalls: calls, unchangedCheck: "lookup", extract: "unload" });
    // extract: auto on the same stack: the extractor executes, describes and reads the measured query itself.
    await runLocalPipeline({ config, stateDir, rate: 500, slices: 3, awsCalls: calls, extract: "auto" });
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    template = Template.fromStack(new Auth0SyncStack(app, "iam", { config, env: PSEUDO }));
  }, 240_000);

  const logicalId = (type: string, prefix = "") => {
    const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
    expect(ids, `${type} ${prefix}`).toHaveLength(1);
    return ids[0]!;
  };

  function resourceOf(c: AwsCall): string {
    const r = c.resources;
    if (r.bucket) {
      expect(r.bucket).toBe(local.bucket);
      return `logical:${logicalId("AWS::S3::Bucket")}${r.key ? `/${r.key}` : ""}`;
    }
    if (r.table) return `logical:${logicalId("AWS::DynamoDB::GlobalTable")}`;
    if (r.queueUrl) return `logical:${logicalId("AWS::SQS::Queue", "PipelineQueue")}`;
    if (r.workgroup) return `arn:aws:redshift-serverless:${PSEUDO.region}:${PSEUDO.account}:workgroup/0a1b2c3d-workgroup-id`;
    if (r.functionName) return `logical:${logicalId("AWS::Lambda::Function", r.functionName === "segment" ? "PipelineUnloadRunsegment" : "Pipelineextractor")}`;
    return "*";
  }

  function statementsOf(caller: Caller): Statement[] {
    const roleId =
      caller === "states"
        ? logicalId("AWS::IAM::Role", "PipelineUnloadRunStateMachineRole")
        : Object.entries(template.findResources("AWS::IAM::Role")).find(([, r]) => (r as { Properties: { Description?: string } }).Properties.Description === `auth0-sync ${config.name} ${caller}`)![0];
    return Object.values(template.findResources("AWS::IAM::Policy"))
      .map((p) => (p as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }).Properties)
      .filter((p) => p.Roles.some((x) => x.Ref === roleId))
      .flatMap((p) => p.PolicyDocument.Statement);
  }

  it("the run took every path that calls AWS", () => {
    const seen = (fn: Caller) => [...new Set(calls.filter((c) => c.fn === fn).map(actionOf))].sort();
    expect(seen("states")).toEqual(["lambda:InvokeFunction", "redshift-data:DescribeStatement", "redshift-data:ExecuteStatement", "s3:GetObject"]);
    expect(seen("segment")).toEqual(["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem", "s3:GetObject", "s3:PutObject", "sqs:SendMessage"]);
    expect(seen("extractor")).toEqual(expect.arrayContaining(["s3:GetObject", "s3:PutObject", "redshift-data:ExecuteStatement", "redshift-data:DescribeStatement", "redshift-data:GetStatementResult"]));
  });

  for (const caller of ["states", "segment", "extractor"] as const) {
    it(`${caller}: each recorded call is allowed by its role (action and resource)`, () => {
      const statements = statementsOf(caller);
      const denied = new Set<string>();
      for (const c of calls.filter((x) => x.fn === caller)) {
        const action = actionOf(c);
        const resource = resourceOf(c);
        if (!allows(statements, action, resource, PSEUDO)) denied.add(`${action} on ${resource}`);
      }
      expect([...denied]).toEqual([]);
    });
  }

  for (const caller of ["states", "segment"] as const) {
    it(`${caller}: its role holds no action that no call and no AWS service needs`, () => {
      const used = new Set(calls.filter((c) => c.fn === caller).map(actionOf));
      const unused = grantedActions(statementsOf(caller)).filter((a) => !used.has(a) && !(a in (ON_BEHALF[caller] ?? {})));
      expect(unused).toEqual([]);
    });
  }
});
