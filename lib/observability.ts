/**
 * What operators watch: alarms to an SNS topic (optionally mailed), and a dashboard of each run's flow, the
 * Auth0 calls, the queues and the Lambdas; with `reconcile`, the reconcile's row and alarms.
 */
import { Duration, Validations } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import { schedulePeriodSeconds, type SyncConfig } from "../functions/core/config.js";
import { describeRateLimits } from "../functions/core/rate-limits.js";
import { METRICS, METRICS_NAMESPACE, type MetricName } from "../functions/core/metrics.js";
import type { Pipeline } from "./pipeline.js";

/** An alarm's own settings; the factory's defaults fill the rest. */
export type SyncAlarmProps = Omit<cw.AlarmProps, "alarmName" | "evaluationPeriods"> & Partial<Pick<cw.AlarmProps, "evaluationPeriods">>;

export interface AlarmFactoryProps {
  /** Every alarm's name is this prefix and its construct id. */
  alarmNamePrefix: string;
  /** Notified when an alarm fires and when it is OK again. */
  topic: sns.ITopic;
}

/**
 * Every alarm of the stack, with the shared defaults (cdk-monitoring-constructs' AlarmFactory, in small): a name
 * under the prefix, the topic for ALARM and OK, one evaluation period, and missing data as not breaching (a
 * metric with no datapoint means nothing happened) unless the alarm says otherwise.
 */
export class AlarmFactory {
  constructor(
    private readonly scope: Construct,
    private readonly props: AlarmFactoryProps,
  ) {}

  addAlarm(id: string, props: SyncAlarmProps): cw.Alarm {
    const alarm = new cw.Alarm(this.scope, id, {
      alarmName: `${this.props.alarmNamePrefix}${id}`,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      ...props,
    });
    const notify = new actions.SnsAction(this.props.topic);
    alarm.addAlarmAction(notify);
    alarm.addOkAction(notify);
    return alarm;
  }
}

export interface ObservabilityProps {
  config: SyncConfig;
  pipeline: Pipeline;
}

export class Observability extends Construct {
  readonly alarmNamePrefix: string;
  readonly topic: sns.Topic;
  readonly dashboard: cw.Dashboard;
  readonly alarms: Record<string, cw.Alarm>;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config, pipeline } = props;
    const name = config.name;

    this.topic = new sns.Topic(this, "Alarms", { displayName: `Auth0 sync ${name} alarms`, enforceSSL: true });
    Validations.of(this.topic).acknowledge({
      id: "AwsSolutions-SNS2",
      reason: "Alarm notifications carry alarm names and states only, no user data; a KMS key would need a CloudWatch key policy for no gain.",
    });
    if (config.alarms.email) this.topic.addSubscription(new subs.EmailSubscription(config.alarms.email));

    // A metric of the catalog, with the service dimension of the function that emits it.
    const m = (metricName: MetricName, statistic = "Sum", period = Duration.minutes(5)) =>
      new cw.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: `${name}-${METRICS[metricName].fn}` }, statistic, period });

    const periodS = schedulePeriodSeconds(config);
    // CloudWatch periods stop at one day: two schedule periods as one datapoint when they fit, else two of one.
    const twoPeriods = 2 * periodS <= 86_400;
    const runPeriod = Duration.seconds(Math.min(86_400, Math.ceil((twoPeriods ? 2 * periodS : periodS) / 60) * 60));

    // Named, so the CLI's `status` finds them by the prefix the stack outputs.
    this.alarmNamePrefix = `auth0-sync-${name}-`;
    const alarms = new AlarmFactory(this, { alarmNamePrefix: this.alarmNamePrefix, topic: this.topic });
    const calls = m("Auth0Calls");
    const s429 = m("Auth0Status429");
    this.alarms = {
      dlq: alarms.addAlarm("DlqNotEmpty", {
        alarmDescription: `Messages in the DLQ of ${name}: users that failed maxReceiveCount times. Look at 'auth0-sync status', fix, then 'auth0-sync redrive'.`,
        metric: pipeline.dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      queueAge: alarms.addAlarm("QueueAge", {
        alarmDescription: `The oldest message on the queue of ${name} waits for more than ${config.alarms.oldestMessageAgeSeconds} s: the consumers are not keeping up or are failing.`,
        metric: pipeline.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: "Maximum" }),
        threshold: config.alarms.oldestMessageAgeSeconds,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      consumerErrors: alarms.addAlarm("ConsumerErrors", {
        alarmDescription: `The consumer Lambda of ${name} failed (crash or timeout, not a user rejected).`,
        metric: pipeline.consumer.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      extractorErrors: alarms.addAlarm("ExtractorFailed", {
        alarmDescription: `The extractor of ${name} failed: the warehouse query, the queue or the config.`,
        metric: pipeline.extractor.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      noRun: alarms.addAlarm("NoSuccessfulRun", {
        alarmDescription: `No successful extractor run of ${name} in two schedule periods (${config.schedule}).`,
        metric: m("RunsSucceeded", "Sum", runPeriod),
        threshold: 1,
        comparisonOperator: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: twoPeriods ? 1 : 2,
        treatMissingData: cw.TreatMissingData.BREACHING,
      }),
      held: alarms.addAlarm("MirrorRunHeld", {
        alarmDescription: `A mirror run of ${name} was held: more managed users are absent than the threshold allows, so nothing was blocked or deleted. Check the warehouse; approve with mirror.approve or the CLI.`,
        metric: m("RunsHeld", "Sum", Duration.minutes(5)),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      status429: alarms.addAlarm("HighThrottleShare", {
        alarmDescription: `More than ${config.alarms.status429Share * 100}% of Auth0 calls of ${name} answered 429: another client shares the tenant's budget, or the configured budget is above the tenant's.`,
        metric: new cw.MathExpression({
          expression: "IF(calls > 0, throttled / calls, 0)",
          usingMetrics: { calls, throttled: s429 },
          period: Duration.minutes(5),
          label: "429 share",
        }),
        threshold: config.alarms.status429Share,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
    };

    // The reconcile (config `reconcile`): its failures, and the share of managed users it found drifted.
    const reconcile = pipeline.reconcile;
    // A reconcile emits its figures once, when it ends: the largest of a period is that period's reconcile.
    const reconcilePeriod = reconcile
      ? Duration.seconds(Math.min(86_400, Math.ceil(schedulePeriodSeconds({ schedule: reconcile.settings.schedule, alarms: config.alarms }) / 60) * 60))
      : undefined;
    const driftShare = reconcilePeriod
      ? new cw.MathExpression({
          expression: "IF(managed > 0, drifted / managed, 0)",
          usingMetrics: { managed: m("ReconcileManaged", "Maximum", reconcilePeriod), drifted: m("ReconcileDrifted", "Maximum", reconcilePeriod) },
          period: reconcilePeriod,
          label: "drift share",
        })
      : undefined;
    if (reconcile && driftShare) {
      this.alarms.reconcileErrors = alarms.addAlarm("ReconcileFailed", {
        alarmDescription: `The reconcile of ${name} failed: a crash, a timeout, or an error from Auth0, the ledger or the queue (its logs say which).`,
        metric: reconcile.fn.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
      this.alarms.reconcileDrift = alarms.addAlarm("ReconcileDriftHigh", {
        alarmDescription: `A reconcile of ${name} found more than ${reconcile.settings.driftAlarmShare * 100}% of the managed users drifted from what the sync applied (changed in Auth0, or gone): another writer edits the fields the sync owns. ${reconcile.settings.repair ? "The drifted users were sent to the queue for repair." : "reconcile.repair is false: nothing was repaired."}`,
        metric: driftShare,
        threshold: reconcile.settings.driftAlarmShare,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    }

    this.dashboard = new cw.Dashboard(this, "Dashboard", { dashboardName: `auth0-sync-${name}`, defaultInterval: Duration.days(1) });
    const graph = (title: string, left: cw.IMetric[], width = 12, right: cw.IMetric[] = []) => new cw.GraphWidget({ title, left, right, width, height: 6 });
    const labelled = (metric: cw.Metric, label: string) => metric.with({ label });
    this.dashboard.addWidgets(
      new cw.TextWidget({
        markdown: `# Auth0 sync \`${name}\`\nSchedule \`${config.schedule}\`, mode \`${config.mode}\`, Auth0 budget ${describeRateLimits(config.auth0)} over at most ${pipeline.maxConcurrency} consumers.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      graph(
        "Run flow: rows",
        [
          labelled(m("RowsRead"), "read"),
          labelled(m("RowsRejected"), "rejected (extract)"),
          labelled(m("RowsEnqueued"), "enqueued"),
          labelled(m("UsersCreated"), "created"),
          labelled(m("UsersUpdated"), "updated"),
          labelled(m("UsersUnchanged"), "unchanged"),
          labelled(m("UsersRejected"), "rejected (Auth0)"),
          // Messages moved by the redrive policy do not count as "sent" to the DLQ; its depth is what shows them.
          pipeline.dlq.metricApproximateNumberOfMessagesVisible({ label: "dead-lettered (DLQ messages)", period: Duration.minutes(5), statistic: "Maximum" }),
        ],
        24,
      ),
    );
    this.dashboard.addWidgets(
      graph(
        "Runs: how they ended",
        [
          labelled(m("RunsSucceeded"), "succeeded"),
          labelled(m("RunsHeld"), "held (mirror)"),
          labelled(m("RunsSkipped"), "skipped"),
          labelled(m("RunsFailed"), "failed"),
          labelled(m("RunsInterrupted"), "interrupted"),
        ],
        24,
      ),
    );
    this.dashboard.addWidgets(
      graph("Auth0 calls and 429s", [labelled(calls, "calls")], 12, [labelled(s429, "429s")]),
      graph("Queue: depth and age of oldest", [pipeline.queue.metricApproximateNumberOfMessagesVisible({ label: "visible" }), pipeline.queue.metricApproximateNumberOfMessagesNotVisible({ label: "in flight" })], 12, [
        pipeline.queue.metricApproximateAgeOfOldestMessage({ label: "oldest (s)" }),
      ]),
    );
    this.dashboard.addWidgets(
      graph("DLQ depth", [pipeline.dlq.metricApproximateNumberOfMessagesVisible({ label: "DLQ messages", statistic: "Maximum" }), pipeline.scheduleDlq.metricApproximateNumberOfMessagesVisible({ label: "schedule DLQ", statistic: "Maximum" })], 8),
      graph("Lambda errors and throttles", [
        pipeline.extractor.metricErrors({ label: "extractor errors" }),
        pipeline.consumer.metricErrors({ label: "consumer errors" }),
        pipeline.extractor.metricThrottles({ label: "extractor throttles" }),
        pipeline.consumer.metricThrottles({ label: "consumer throttles" }),
        // Reserved concurrency 1: a continuation that arrives while a reconcile runs is throttled, then retried.
        ...(reconcile ? [reconcile.fn.metricErrors({ label: "reconcile errors" }), reconcile.fn.metricThrottles({ label: "reconcile throttles" })] : []),
        // A ledger write that failed after its Auth0 write: the user is retried, but the ledger lagged Auth0.
        labelled(m("LedgerWriteFailures"), "ledger write failures"),
      ], 8),
      graph("Lambda duration (p95)", [
        pipeline.extractor.metricDuration({ statistic: "p95", label: "extractor" }),
        pipeline.consumer.metricDuration({ statistic: "p95", label: "consumer" }),
        ...(reconcile ? [reconcile.fn.metricDuration({ statistic: "p95", label: "reconcile" })] : []),
      ], 8),
    );
    if (reconcile && driftShare && reconcilePeriod) {
      const r = (metricName: MetricName, label: string) => labelled(m(metricName, "Maximum", reconcilePeriod), label);
      this.dashboard.addWidgets(
        graph(`Reconcile (${reconcile.settings.schedule}): tenant and ledger`, [r("ReconcileUsersScanned", "users scanned"), r("ReconcileManaged", "managed"), r("ReconcileAdopted", "adopted")], 8),
        new cw.GraphWidget({
          title: "Reconcile: drift and repairs",
          left: [r("ReconcileDrifted", "drifted"), r("ReconcileRepaired", "repairs queued")],
          right: [driftShare],
          rightAnnotations: [{ value: reconcile.settings.driftAlarmShare, label: "ReconcileDriftHigh" }],
          width: 8,
          height: 6,
        }),
        graph("Reconcile: Auth0 calls", [r("ReconcileAuth0Calls", "Auth0 calls (export job, polls, role members)")], 8),
      );
    }
    this.dashboard.addWidgets(new cw.AlarmStatusWidget({ title: "Alarms", alarms: Object.values(this.alarms), width: 24, height: 3 }));
  }
}
