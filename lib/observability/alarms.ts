/**
 * The stack's named alarms: what each watches, its threshold and what it tells the operator. Metrics come from the
 * metric factory, names, actions and defaults from the alarm factory.
 */
import { Duration } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import type { SyncConfig } from "../../functions/core/config.js";
import type { AlarmFactory } from "./alarm-factory.js";
import { WATCH_DELIVERY } from "../../functions/core/watch.js";
import type { SyncMetricFactory } from "./metric-factory.js";

export interface SyncAlarms {
  dlq: cw.Alarm;
  queueAge: cw.Alarm;
  consumerErrors: cw.Alarm;
  extractorErrors: cw.Alarm;
  noRun: cw.Alarm;
  held: cw.Alarm;
  status429: cw.Alarm;
  /** With `reconcile` in the config. */
  reconcileErrors?: cw.Alarm;
  reconcileDrift?: cw.Alarm;
  /** With source.unload. */
  unloadRunFailed?: cw.Alarm;
  segmentErrors?: cw.Alarm;
  /** With a config that may import new users. */
  importerErrors?: cw.Alarm;
  /** With `watch` enabled. */
  watchOutsideEdits?: cw.Alarm;
  watchDlq?: cw.Alarm;
  watchErrors?: cw.Alarm;
}

/** The alarms in the order they are created (the dashboard's alarm status widget lists them so). */
export const alarmList = (alarms: SyncAlarms): cw.Alarm[] => Object.values(alarms).filter((a): a is cw.Alarm => a !== undefined);

export function addSyncAlarms(factory: AlarmFactory, metrics: SyncMetricFactory, config: SyncConfig): SyncAlarms {
  const name = config.name;
  const above = cw.ComparisonOperator.GREATER_THAN_THRESHOLD;
  const alarms: SyncAlarms = {
    dlq: factory.addAlarm(metrics.dlq.visible({ period: Duration.minutes(1), statistic: "Maximum" }), {
      alarmNameSuffix: "DlqNotEmpty",
      alarmDescription: `Messages in the DLQ of ${name}: users that failed maxReceiveCount times. Look at 'auth0-sync status', fix, then 'auth0-sync redrive'.`,
      threshold: 0,
      comparisonOperator: above,
    }),
    queueAge: factory.addAlarm(metrics.queue.oldestAgeSeconds({ period: Duration.minutes(5), statistic: "Maximum" }), {
      alarmNameSuffix: "QueueAge",
      alarmDescription: `The oldest message on the queue of ${name} waits for more than ${config.alarms.oldestMessageAgeSeconds} s: the consumers are not keeping up or are failing.`,
      threshold: config.alarms.oldestMessageAgeSeconds,
      comparisonOperator: above,
    }),
    consumerErrors: factory.addAlarm(metrics.consumer.errors({ period: Duration.minutes(5), statistic: "Sum" }), {
      alarmNameSuffix: "ConsumerErrors",
      alarmDescription: `The consumer Lambda of ${name} failed (crash or timeout, not a user rejected).`,
      threshold: 0,
      comparisonOperator: above,
    }),
    extractorErrors: factory.addAlarm(metrics.extractor.errors({ period: Duration.minutes(5), statistic: "Sum" }), {
      alarmNameSuffix: "ExtractorFailed",
      alarmDescription: `The extractor of ${name} failed: the warehouse query, the queue or the config.`,
      threshold: 0,
      comparisonOperator: above,
    }),
    noRun: factory.addAlarm(metrics.runsSucceededInWindow(), {
      alarmNameSuffix: "NoSuccessfulRun",
      alarmDescription: `No successful extractor run of ${name} in two schedule periods (${config.schedule}).`,
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: metrics.runWindow.datapoints,
      // No datapoint at all is the very thing this alarm is for.
      treatMissingData: cw.TreatMissingData.BREACHING,
    }),
    held: factory.addAlarm(metrics.metric("RunsHeld"), {
      alarmNameSuffix: "MirrorRunHeld",
      alarmDescription: `A mirror run of ${name} was held: more managed users are absent than the threshold allows, so nothing was blocked or deleted. Check the warehouse; approve with mirror.approve or the CLI.`,
      threshold: 0,
      comparisonOperator: above,
    }),
    status429: factory.addAlarm(metrics.throttleShare(), {
      alarmNameSuffix: "HighThrottleShare",
      alarmDescription: `More than ${config.alarms.status429Share * 100}% of Auth0 calls of ${name} answered 429: another client shares the tenant's budget, or the configured budget is above the tenant's.`,
      threshold: config.alarms.status429Share,
      comparisonOperator: above,
    }),
  };

  // The reconcile: its failures, and the share of managed users it found drifted.
  const reconcile = metrics.reconcile;
  const settings = config.reconcile;
  if (reconcile && settings) {
    alarms.reconcileErrors = factory.addAlarm(reconcile.fn.errors({ period: Duration.minutes(5), statistic: "Sum" }), {
      alarmNameSuffix: "ReconcileFailed",
      alarmDescription: `The reconcile of ${name} failed: a crash, a timeout, or an error from Auth0, the ledger or the queue (its logs say which).`,
      threshold: 0,
      comparisonOperator: above,
    });
    alarms.reconcileDrift = factory.addAlarm(reconcile.driftShare(), {
      alarmNameSuffix: "ReconcileDriftHigh",
      alarmDescription: `A reconcile of ${name} found more than ${settings.driftAlarmShare * 100}% of the managed users drifted from what the sync applied (changed in Auth0, or gone): another writer edits the fields the sync owns. ${settings.repair ? "The drifted users were sent to the queue for repair." : "reconcile.repair is false: nothing was repaired."}`,
      threshold: settings.driftAlarmShare,
      comparisonOperator: above,
    });
  }
  // A run over an unloaded table: an execution that failed (the run is recorded failed), and workers that failed
  // (each is retried by the Map; errors that keep coming fail the execution).
  if (metrics.unload) {
    alarms.unloadRunFailed = factory.addAlarm(metrics.unload.failed({ period: Duration.minutes(5) }), {
      alarmNameSuffix: "UnloadRunFailed",
      alarmDescription: `A run of ${name} over its unloaded table failed or timed out: the UNLOAD, a segment after its retries, or the finish. 'auth0-sync status' shows the run's error; the execution can be redriven (docs/scaling.md).`,
      threshold: 0,
      comparisonOperator: above,
    });
    alarms.segmentErrors = factory.addAlarm(metrics.unload.segment.errors({ period: Duration.minutes(5), statistic: "Sum" }), {
      alarmNameSuffix: "SegmentWorkerErrors",
      alarmDescription: `Segment workers of ${name} failed (a crash, a timeout, S3, SQS or the ledger); the Map retries each, a finished segment sends nothing twice.`,
      threshold: 0,
      comparisonOperator: above,
    });
  }
  // The importer: a crash or a timeout (a job still running at the timeout is followed by the next delivery).
  if (metrics.importer) {
    alarms.importerErrors = factory.addAlarm(metrics.importer.errors({ period: Duration.minutes(5), statistic: "Sum" }), {
      alarmNameSuffix: "ImporterErrors",
      alarmDescription: `The importer of ${name} failed (a crash or a timeout, not a user refused by a job): its batch is delivered again and follows the job the ledger recorded; after maxReceiveCount it reaches the DLQ, and a redrive sends its users the per-user way (docs/imports.md).`,
      threshold: 0,
      comparisonOperator: above,
    });
  }
  // The watch: other clients editing managed users (someone fights the sync), events it could not handle, its failures.
  const watch = config.watch;
  if (metrics.watch && metrics.watchDlq && watch) {
    alarms.watchOutsideEdits = factory.addAlarm(metrics.metric("WatchOutsideEdits", { period: Duration.hours(1), statistic: "Sum" }), {
      alarmNameSuffix: "WatchOutsideEditsHigh",
      alarmDescription: `Other clients changed more than ${watch.alarmEditsPerHour} managed users of ${name} on fields the sync owns within an hour: someone is fighting the sync, or editing managed users outside the table. ${watch.repair ? "The watch repairs them (up to the fight cap)." : "watch.repair is false: nothing was repaired."} 'auth0-sync status' shows the latest edits and their clients.`,
      threshold: watch.alarmEditsPerHour,
      comparisonOperator: above,
    });
    alarms.watchDlq = factory.addAlarm(metrics.watchDlq.visible({ period: Duration.minutes(1), statistic: "Maximum" }), {
      alarmNameSuffix: "WatchDlqNotEmpty",
      alarmDescription: `Messages in the watch DLQ of ${name}: tenant log events the watch failed ${WATCH_DELIVERY.maxReceiveCount} times, or EventBridge could not deliver to the watch queue. Look at the watch's logs, fix, then redrive the DLQ to the watch queue (the reconcile remains the backstop).`,
      threshold: 0,
      comparisonOperator: above,
    });
    alarms.watchErrors = factory.addAlarm(metrics.watch.errors({ period: Duration.minutes(5), statistic: "Sum" }), {
      alarmNameSuffix: "WatchErrors",
      alarmDescription: `The watch Lambda of ${name} failed (a crash or a timeout): its batch's events are delivered again, and after ${WATCH_DELIVERY.maxReceiveCount} receives go to the watch DLQ.`,
      threshold: 0,
      comparisonOperator: above,
    });
  }
  return alarms;
}
