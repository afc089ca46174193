/**
 * The dashboard's widgets, row by row: each run's flow and how runs ended, the Auth0 calls, the queues, the
 * Lambdas, with `reconcile` the reconcile's row, with `watch` the watch's, and the alarms. Every metric comes from
 * the metric factory.
 */
import { Duration } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import type { SyncConfig } from "../../functions/core/config.js";
import { describeRateLimits } from "../../functions/core/rate-limits.js";
import type { SyncMetricFactory } from "./metric-factory.js";

export interface DashboardWidgetsProps {
  config: SyncConfig;
  /** The consumers' maxConcurrency, which the header says the budget is split over. */
  maxConcurrency: number;
  metrics: SyncMetricFactory;
  /** For the alarm status row, in this order. */
  alarms: readonly cw.IAlarm[];
}

const HEIGHT = 6;
const graph = (title: string, left: cw.IMetric[], width = 12, right: cw.IMetric[] = []) => new cw.GraphWidget({ title, left, right, width, height: HEIGHT });

/** One array per dashboard row (`DashboardProps.widgets`). */
export function dashboardWidgets(props: DashboardWidgetsProps): cw.IWidget[][] {
  const { config, metrics: m } = props;
  const rows: cw.IWidget[][] = [
    [
      new cw.TextWidget({
        markdown: `# Auth0 sync \`${config.name}\`\nSchedule \`${config.schedule}\`, mode \`${config.mode}\`, Auth0 budget ${describeRateLimits(config.auth0)} over at most ${props.maxConcurrency} consumers.`,
        width: 24,
        height: 2,
      }),
    ],
    [
      graph(
        "Run flow: rows",
        [
          m.metric("RowsRead", { label: "read" }),
          m.metric("RowsRejected", { label: "rejected (extract)" }),
          m.metric("RowsEnqueued", { label: "enqueued" }),
          m.metric("UsersCreated", { label: "created" }),
          ...(m.importer ? [m.metric("ImportedUsers", { label: "created by import jobs" })] : []),
          m.metric("UsersUpdated", { label: "updated" }),
          m.metric("UsersUnchanged", { label: "unchanged" }),
          m.metric("UsersRejected", { label: "rejected (Auth0)" }),
          // Messages moved by the redrive policy do not count as "sent" to the DLQ; its depth is what shows them.
          m.dlq.visible({ label: "dead-lettered (DLQ messages)", period: Duration.minutes(5), statistic: "Maximum" }),
        ],
        24,
      ),
    ],
    [
      graph(
        "Runs: how they ended",
        [
          m.metric("RunsSucceeded", { label: "succeeded" }),
          m.metric("RunsHeld", { label: "held (mirror)" }),
          m.metric("RunsSkipped", { label: "skipped" }),
          m.metric("RunsFailed", { label: "failed" }),
          m.metric("RunsInterrupted", { label: "interrupted" }),
        ],
        24,
      ),
    ],
    [
      graph("Auth0 calls and 429s", [m.metric("Auth0Calls", { label: "calls" })], 12, [m.metric("Auth0Status429", { label: "429s" })]),
      graph("Queue: depth and age of oldest", [m.queue.visible({ label: "visible" }), m.queue.inFlight({ label: "in flight" })], 12, [m.queue.oldestAgeSeconds({ label: "oldest (s)" })]),
    ],
    [
      graph("DLQ depth", [m.dlq.visible({ label: "DLQ messages", statistic: "Maximum" }), m.scheduleDlq.visible({ label: "schedule DLQ", statistic: "Maximum" })], 8),
      graph(
        "Lambda errors and throttles",
        [
          m.extractor.errors({ label: "extractor errors" }),
          m.consumer.errors({ label: "consumer errors" }),
          m.extractor.throttles({ label: "extractor throttles" }),
          m.consumer.throttles({ label: "consumer throttles" }),
          // Reserved concurrency 1: a continuation that arrives while a reconcile runs is throttled, then retried.
          ...(m.reconcile ? [m.reconcile.fn.errors({ label: "reconcile errors" }), m.reconcile.fn.throttles({ label: "reconcile throttles" })] : []),
          // A ledger write that failed after its Auth0 write: the user is retried, but the ledger lagged Auth0.
          m.metric("LedgerWriteFailures", { label: "ledger write failures" }),
        ],
        8,
      ),
      graph(
        "Lambda duration (p95)",
        [m.extractor.durationP95({ label: "extractor" }), m.consumer.durationP95({ label: "consumer" }), ...(m.reconcile ? [m.reconcile.fn.durationP95({ label: "reconcile" })] : [])],
        8,
      ),
    ],
  ];

  const reconcile = m.reconcile;
  const settings = config.reconcile;
  if (reconcile && settings) {
    rows.push([
      graph(
        `Reconcile (${settings.schedule}): tenant and ledger`,
        [reconcile.metric("ReconcileUsersScanned", "users scanned"), reconcile.metric("ReconcileManaged", "managed"), reconcile.metric("ReconcileAdopted", "adopted")],
        8,
      ),
      new cw.GraphWidget({
        title: "Reconcile: drift and repairs",
        left: [reconcile.metric("ReconcileDrifted", "drifted"), reconcile.metric("ReconcileRepaired", "repairs queued")],
        right: [reconcile.driftShare()],
        rightAnnotations: [{ value: settings.driftAlarmShare, label: "ReconcileDriftHigh" }],
        width: 8,
        height: HEIGHT,
      }),
      graph("Reconcile: Auth0 calls", [reconcile.metric("ReconcileAuth0Calls", "Auth0 calls (export job, polls, role members)")], 8),
    ]);
  }
  const unload = m.unload;
  if (unload) {
    rows.push([
      graph("Unload runs: executions", [unload.succeeded({ label: "succeeded" }), unload.failed({ label: "failed or timed out" })], 8),
      graph("Unload runs: duration (p95) and segments", [unload.durationP95({ label: "execution (ms)" }), m.metric("SegmentsDone", { label: "segments done" })], 8),
      graph("Segment workers", [unload.segment.errors({ label: "errors" }), unload.segment.throttles({ label: "throttles" }), unload.segment.durationP95({ label: "duration p95 (ms)" })], 8),
    ]);
  }
  const importer = m.importer;
  if (importer && m.importQueue) {
    rows.push([
      graph("Import jobs: jobs and their users", [m.metric("ImportJobs", { label: "jobs submitted" }), m.metric("ImportedUsers", { label: "users created" }), m.metric("ImportFallbacks", { label: "users handed to the per-user path" })], 8),
      graph("Importer", [importer.errors({ label: "errors" }), importer.durationP95({ label: "duration p95 (ms)" }), m.metric("ImportAuth0Calls", { label: "Auth0 calls (jobs, polls, grouped roles)" })], 8),
      graph("Import queue", [m.importQueue.visible({ label: "batches waiting" }), m.importQueue.inFlight({ label: "batches in flight (at most 2 jobs)" })], 8),
    ]);
  }
  const watch = m.watch;
  const watchSettings = config.watch;
  if (watch && m.watchQueue && m.watchDlq && watchSettings) {
    rows.push([
      graph("Watch: tenant log events", [m.metric("WatchEvents", { label: "events" }), m.metric("WatchIgnored", { label: "ignored (not the watch's)" })], 6),
      new cw.GraphWidget({
        title: `Watch: outside edits per hour (repair ${watchSettings.repair ? "on" : "off"})`,
        left: [
          m.metric("WatchOutsideEdits", { label: "outside edits", period: Duration.hours(1) }),
          m.metric("WatchRepaired", { label: "repaired", period: Duration.hours(1) }),
          m.metric("WatchReported", { label: "reported", period: Duration.hours(1) }),
          m.metric("WatchFights", { label: "fights (fight cap)", period: Duration.hours(1) }),
          m.metric("WatchRepairedFields", { label: "fields repaired", period: Duration.hours(1) }),
        ],
        leftAnnotations: [{ value: watchSettings.alarmEditsPerHour, label: "WatchOutsideEditsHigh" }],
        width: 6,
        height: HEIGHT,
      }),
      graph("Watch Lambda", [watch.errors({ label: "errors" }), watch.throttles({ label: "throttles" }), m.metric("WatchAuth0Calls", { label: "Auth0 calls (reads of edited users)" })], 6, [watch.durationP95({ label: "duration p95 (ms)" })]),
      graph(
        "Watch queue and DLQ",
        [m.watchQueue.visible({ label: "events waiting" }), m.watchQueue.inFlight({ label: "in flight" }), m.watchDlq.visible({ label: "watch DLQ", statistic: "Maximum" })],
        6,
        [m.watchQueue.oldestAgeSeconds({ label: "oldest (s)" })],
      ),
    ]);
    rows.push([
      new cw.GraphWidget({ title: "Watch: repaired fields per hour, by field", left: [m.byDimension("WatchRepairedFields", "Field", Duration.hours(1))], width: 24, height: HEIGHT }),
    ]);
  }
  rows.push([new cw.AlarmStatusWidget({ title: "Alarms", alarms: [...props.alarms], width: 24, height: 3 })]);
  return rows;
}
