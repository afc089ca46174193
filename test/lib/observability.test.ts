/**
 * lib/observability/'s factories on their own: the catalog's metrics carry the emitter's service dimension, the
 * run window and the reconcile's period follow the schedules within CloudWatch's one-day limit, and the dashboard's
 * rows end with every alarm in the order the alarms were made.
 */
import { App } from "aws-cdk-lib";
import type * as cw from "aws-cdk-lib/aws-cloudwatch";
import { describe, expect, it } from "vitest";
import type { SyncConfigInput } from "../../functions/core/config.js";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import { dashboardWidgets } from "../../lib/observability/dashboard.js";
import { testConfig } from "../helpers/config.js";

function observability(over: Partial<SyncConfigInput> = {}) {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  return new Auth0SyncStack(app, "obs", { config: testConfig(over), env: { account: "123456789012", region: "eu-west-1" } }).observability;
}

describe("observability factories", () => {
  it("builds a catalog metric in the Auth0Sync namespace with its emitter's service, Sum over 5 minutes unless told", () => {
    const { metrics } = observability();
    const m = metrics.metric("UsersCreated", { label: "created" });
    expect([m.namespace, m.metricName, m.dimensions, m.statistic, m.period.toSeconds(), m.label]).toEqual(["Auth0Sync", "UsersCreated", { service: "test-sync-consumer" }, "Sum", 300, "created"]);
    expect(metrics.metric("RowsRead").dimensions).toEqual({ service: "test-sync-extractor" });
  });

  it.each([
    ["rate(1 hour)", 7200, 1],
    ["rate(13 hours)", 46_800, 2],
    ["rate(2 days)", 86_400, 2],
  ])("sees two periods of %s as datapoints of %i s, %i of them", (schedule, period, datapoints) => {
    const { metrics } = observability({ schedule });
    expect([metrics.runWindow.period.toSeconds(), metrics.runWindow.datapoints]).toEqual([period, datapoints]);
    expect(metrics.runsSucceededInWindow().period.toSeconds()).toBe(period);
  });

  it("has reconcile metrics only with the reconcile: the largest figure over its schedule period", () => {
    expect(observability().metrics.reconcile).toBeUndefined();
    const r = observability({ reconcile: { schedule: "rate(12 hours)" } }).metrics.reconcile!;
    const drifted = r.metric("ReconcileDrifted", "drifted");
    expect([drifted.statistic, drifted.period.toSeconds(), drifted.dimensions]).toEqual(["Maximum", 43_200, { service: "test-sync-reconcile" }]);
    expect(r.driftShare().expression).toBe("IF(managed > 0, drifted / managed, 0)");
  });

  it("names the alarms by the prefix and lists every one, in order, on the dashboard's last row", () => {
    const obs = observability({ reconcile: {} });
    const made = Object.values(obs.alarms) as cw.Alarm[];
    // (create.bulk auto, the default: the importer's alarm last.)
    expect(made.map((a) => a.node.id)).toEqual(["DlqNotEmpty", "QueueAge", "ConsumerErrors", "ExtractorFailed", "NoSuccessfulRun", "MirrorRunHeld", "HighThrottleShare", "ReconcileFailed", "ReconcileDriftHigh", "ImporterErrors"]);
    expect(obs.alarmNamePrefix).toBe("auth0-sync-test-sync-");
    const rows = dashboardWidgets({ config: testConfig({ reconcile: {} }), maxConcurrency: 2, metrics: obs.metrics, alarms: made });
    const status = rows.at(-1)![0]!.toJson()[0] as { type: string; properties: { alarms: string[] } };
    expect([rows.at(-1)!.length, status.type, status.properties.alarms]).toEqual([1, "alarm", made.map((a) => a.alarmArn)]);
  });
});
