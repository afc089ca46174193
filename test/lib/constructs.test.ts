/**
 * The named constructs of lib/: the ledger's grants are exactly LEDGER_ACTIONS on the table alone, every alarm
 * carries the AlarmFactory's defaults, and each SyncFunction's role is the one its statements land on.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import { LEDGER_ACTIONS } from "../../lib/ledger-table.js";
import { testConfig } from "../helpers/config.js";
import { roleStatements } from "../helpers/iam.js";

describe("named constructs", () => {
  let stack: Auth0SyncStack;
  let t: Template;
  beforeAll(() => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    stack = new Auth0SyncStack(app, "constructs", { config: testConfig(), env: { account: "123456789012", region: "eu-west-1" } });
    t = Template.fromStack(stack);
  });

  for (const fn of ["extractor", "consumer"] as const) {
    it(`LedgerTable grants the ${fn} exactly LEDGER_ACTIONS.${fn}, on the table only`, () => {
      const dynamo = roleStatements(t, `auth0-sync test-sync ${fn}`).filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")));
      expect(dynamo).toHaveLength(1);
      expect([dynamo[0]!.Action].flat()).toEqual(LEDGER_ACTIONS[fn].map((a) => `dynamodb:${a}`));
      const table = stack.getLogicalId(stack.pipeline.ledger.table.node.defaultChild as never);
      expect(dynamo[0]!.Resource).toEqual({ "Fn::GetAtt": [table, "Arn"] });
    });

    it(`SyncFunction exposes the ${fn}'s own role, and the function runs with it`, () => {
      const f = stack.pipeline[fn];
      const role = stack.getLogicalId(f.role.node.defaultChild as never);
      const cfn = t.findResources("AWS::Lambda::Function")[stack.getLogicalId(f.node.defaultChild as never)] as { Properties: { Role: unknown } };
      expect(cfn.Properties.Role).toEqual({ "Fn::GetAtt": [role, "Arn"] });
    });
  }

  it("AlarmFactory gives every alarm the prefix, the topic for ALARM and OK, and its defaults unless the alarm sets them", () => {
    const topic = { Ref: stack.getLogicalId(stack.observability.topic.node.defaultChild as never) };
    const alarms = Object.values(t.findResources("AWS::CloudWatch::Alarm")).map((a) => (a as { Properties: Record<string, unknown> }).Properties);
    expect(alarms).toHaveLength(Object.keys(stack.observability.alarms).length);
    for (const a of alarms) {
      expect(String(a.AlarmName).startsWith(stack.observability.alarmNamePrefix)).toBe(true);
      expect(a.AlarmActions).toEqual([topic]);
      expect(a.OKActions).toEqual([topic]);
      if (a.MetricName !== "RunsSucceeded") expect([a.EvaluationPeriods, a.TreatMissingData]).toEqual([1, "notBreaching"]);
    }
  });
});

describe("named constructs, with the reconcile", () => {
  let stack: Auth0SyncStack;
  let t: Template;
  beforeAll(() => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    stack = new Auth0SyncStack(app, "constructs", { config: testConfig({ reconcile: {} }), env: { account: "123456789012", region: "eu-west-1" } });
    t = Template.fromStack(stack);
  });

  it("LedgerTable.grantReconcile grants the reconcile exactly LEDGER_ACTIONS.reconcile, on the table only", () => {
    const dynamo = roleStatements(t, "auth0-sync test-sync reconcile").filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")));
    expect(dynamo).toHaveLength(1);
    expect([dynamo[0]!.Action].flat()).toEqual(LEDGER_ACTIONS.reconcile.map((a) => `dynamodb:${a}`));
    const table = stack.getLogicalId(stack.pipeline.ledger.table.node.defaultChild as never);
    expect(dynamo[0]!.Resource).toEqual({ "Fn::GetAtt": [table, "Arn"] });
  });

  it("SyncFunction exposes the reconcile's own role, and the function runs with it under its deterministic name", () => {
    const r = stack.pipeline.reconcile!;
    const role = stack.getLogicalId(r.fn.role.node.defaultChild as never);
    const cfn = t.findResources("AWS::Lambda::Function")[stack.getLogicalId(r.fn.node.defaultChild as never)] as { Properties: { Role: unknown; FunctionName: unknown } };
    expect(cfn.Properties.Role).toEqual({ "Fn::GetAtt": [role, "Arn"] });
    expect(cfn.Properties.FunctionName).toBe(`${stack.stackName}-reconcile`);
    expect(r.functionName).toBe("constructs-reconcile");
  });

  it("AlarmFactory makes the reconcile's alarms too, with its defaults", () => {
    const topic = { Ref: stack.getLogicalId(stack.observability.topic.node.defaultChild as never) };
    const alarms = Object.values(t.findResources("AWS::CloudWatch::Alarm")).map((a) => (a as { Properties: Record<string, unknown> }).Properties);
    expect(alarms).toHaveLength(Object.keys(stack.observability.alarms).length);
    for (const id of ["ReconcileDriftHigh", "ReconcileFailed"]) {
      const a = alarms.find((x) => x.AlarmName === `${stack.observability.alarmNamePrefix}${id}`);
      expect(a, id).toBeDefined();
      expect([a!.AlarmActions, a!.OKActions, a!.EvaluationPeriods, a!.TreatMissingData]).toEqual([[topic], [topic], 1, "notBreaching"]);
    }
  });
});
