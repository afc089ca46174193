/**
 * What operators watch: alarms to an SNS topic (optionally mailed), and a dashboard of each run's flow, the
 * Auth0 calls, the queues and the Lambdas; with `reconcile`, the reconcile's row and alarms. This construct only
 * wires the parts (as cdk-monitoring-constructs does): metric-factory.ts builds every metric, alarm-factory.ts
 * names alarms and gives them their action and defaults, alarms.ts says which alarms there are, and dashboard.ts
 * lays out the widgets.
 */
import { Duration, Validations } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import type { SyncConfig } from "../../functions/core/config.js";
import type { Pipeline } from "../pipeline.js";
import { AlarmFactory } from "./alarm-factory.js";
import { addSyncAlarms, alarmList, type SyncAlarms } from "./alarms.js";
import { dashboardWidgets } from "./dashboard.js";
import { SyncMetricFactory } from "./metric-factory.js";

export { AlarmFactory, type AddAlarmProps } from "./alarm-factory.js";
export type { SyncAlarms } from "./alarms.js";
export { SyncMetricFactory } from "./metric-factory.js";

export interface ObservabilityProps {
  config: SyncConfig;
  pipeline: Pipeline;
}

export class Observability extends Construct {
  /** Every alarm's name starts with this (a stack output: the CLI's `status` lists the alarms by it). */
  readonly alarmNamePrefix: string;
  readonly topic: sns.Topic;
  readonly metrics: SyncMetricFactory;
  readonly alarms: SyncAlarms;
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config, pipeline } = props;

    this.topic = new sns.Topic(this, "Alarms", { displayName: `Auth0 sync ${config.name} alarms`, enforceSSL: true });
    Validations.of(this.topic).acknowledge({
      id: "AwsSolutions-SNS2",
      reason: "Alarm notifications carry alarm names and states only, no user data; a KMS key would need a CloudWatch key policy for no gain.",
    });
    if (config.alarms.email) this.topic.addSubscription(new subs.EmailSubscription(config.alarms.email));

    this.metrics = new SyncMetricFactory({ config, pipeline });
    // The alarms are this construct's children: their logical ids stay Observability<suffix>.
    const alarmFactory = new AlarmFactory(this, { syncName: config.name, topic: this.topic });
    this.alarmNamePrefix = alarmFactory.alarmNamePrefix;
    this.alarms = addSyncAlarms(alarmFactory, this.metrics, config);

    this.dashboard = new cw.Dashboard(this, "Dashboard", {
      dashboardName: `auth0-sync-${config.name}`,
      defaultInterval: Duration.days(1),
      widgets: dashboardWidgets({ config, maxConcurrency: pipeline.maxConcurrency, metrics: this.metrics, alarms: alarmList(this.alarms) }),
    });
  }
}
