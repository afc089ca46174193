/**
 * Every metric the alarms and the dashboard read, and nothing else in lib/observability/ builds one
 * (cdk-monitoring-constructs' MetricFactory and its per-resource factories, in small): the catalog's metrics by
 * name (functions/core/metrics.ts) in their namespace with the service dimension of the function that emits them,
 * metric math, and the AWS/SQS and AWS/Lambda metrics of the pipeline's queues and functions.
 */
import { Duration } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { schedulePeriodSeconds, type SyncConfig } from "../../functions/core/config.js";
import { METRICS, METRICS_NAMESPACE, type MetricName } from "../../functions/core/metrics.js";
import type { Pipeline } from "../pipeline.js";
import type { Reconcile } from "../reconcile-construct.js";
import type { UnloadRun } from "../unload-run.js";

/** The period of every metric that names none (CloudWatch's own default for the AWS metrics too). */
export const DEFAULT_PERIOD = Duration.minutes(5);

/** CloudWatch alarms evaluate periods of whole minutes up to one day. */
const MAX_PERIOD_SECONDS = 86_400;
const alarmablePeriod = (seconds: number) => Duration.seconds(Math.min(MAX_PERIOD_SECONDS, Math.ceil(seconds / 60) * 60));

/** The catalog's metrics that one function emits. */
type MetricOf<F extends string> = { [K in MetricName]: (typeof METRICS)[K]["fn"] extends F ? K : never }[MetricName];

export interface CatalogMetricOptions {
  /** @default "Sum": the catalog's metrics are counts. */
  statistic?: string;
  /** @default DEFAULT_PERIOD */
  period?: Duration;
  /** @default the metric's name (CloudWatch's) */
  label?: string;
}

/**
 * How the no-successful-run alarm sees two schedule periods: as one datapoint when they fit in CloudWatch's one
 * day, else as two datapoints of one period each.
 */
export interface RunWindow {
  period: Duration;
  datapoints: number;
}

export interface SyncMetricFactoryProps {
  config: SyncConfig;
  pipeline: Pipeline;
}

export class SyncMetricFactory {
  readonly queue: QueueMetricFactory;
  readonly dlq: QueueMetricFactory;
  readonly scheduleDlq: QueueMetricFactory;
  readonly extractor: FunctionMetricFactory;
  readonly consumer: FunctionMetricFactory;
  /** With `reconcile` in the config. */
  readonly reconcile?: ReconcileMetricFactory;
  /** With source.unload: the state machine's executions and the segment worker. */
  readonly unload?: UnloadRunMetricFactory;
  /** With a config that may import new users: the importer and its queue (docs/imports.md). */
  readonly importer?: FunctionMetricFactory;
  readonly importQueue?: QueueMetricFactory;
  /** With `watch` enabled: the watch Lambda, its queue and its DLQ. */
  readonly watch?: FunctionMetricFactory;
  readonly watchQueue?: QueueMetricFactory;
  readonly watchDlq?: QueueMetricFactory;
  readonly runWindow: RunWindow;
  private readonly syncName: string;

  constructor(props: SyncMetricFactoryProps) {
    const { config, pipeline } = props;
    this.syncName = config.name;
    this.queue = new QueueMetricFactory(pipeline.queue);
    this.dlq = new QueueMetricFactory(pipeline.dlq);
    this.scheduleDlq = new QueueMetricFactory(pipeline.scheduleDlq);
    this.extractor = new FunctionMetricFactory(pipeline.extractor);
    this.consumer = new FunctionMetricFactory(pipeline.consumer);
    if (pipeline.reconcile) this.reconcile = new ReconcileMetricFactory(this, pipeline.reconcile, config);
    if (pipeline.unloadRun) this.unload = new UnloadRunMetricFactory(pipeline.unloadRun);
    if (pipeline.importer) this.importer = new FunctionMetricFactory(pipeline.importer);
    if (pipeline.importQueue) this.importQueue = new QueueMetricFactory(pipeline.importQueue);
    if (pipeline.watch) {
      this.watch = new FunctionMetricFactory(pipeline.watch.fn);
      this.watchQueue = new QueueMetricFactory(pipeline.watch.queue);
      this.watchDlq = new QueueMetricFactory(pipeline.watch.dlq);
    }
    const periodS = schedulePeriodSeconds(config);
    const twoFit = 2 * periodS <= MAX_PERIOD_SECONDS;
    this.runWindow = { period: alarmablePeriod(twoFit ? 2 * periodS : periodS), datapoints: twoFit ? 1 : 2 };
  }

  /** A metric of the catalog, with the service dimension of the function that emits it (its Powertools service). */
  metric(metricName: MetricName, options: CatalogMetricOptions = {}): cw.Metric {
    return new cw.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: `${this.syncName}-${METRICS[metricName].fn}` },
      statistic: options.statistic ?? "Sum",
      period: options.period ?? DEFAULT_PERIOD,
      label: options.label,
    });
  }

  /**
   * A catalog metric split by one more dimension (the watch's repaired fields by `Field`): one line per value the
   * function emitted, found by CloudWatch's SEARCH among the function's own metrics.
   */
  byDimension(metricName: MetricName, dimension: string, period: Duration = DEFAULT_PERIOD): cw.MathExpression {
    const service = `${this.syncName}-${METRICS[metricName].fn}`;
    return new cw.MathExpression({ expression: `SEARCH('{${METRICS_NAMESPACE},${dimension},service} MetricName="${metricName}" service="${service}"', 'Sum', ${period.toSeconds()})`, usingMetrics: {}, period, label: "" });
  }

  math(expression: string, usingMetrics: Record<string, cw.IMetric>, label: string, period: Duration = DEFAULT_PERIOD): cw.MathExpression {
    return new cw.MathExpression({ expression, usingMetrics, period, label });
  }

  /** Successful extracts over one datapoint of the run window. */
  runsSucceededInWindow(): cw.Metric {
    return this.metric("RunsSucceeded", { period: this.runWindow.period });
  }

  /** The share of the consumers' Auth0 calls answered 429 (0 when there were no calls). */
  throttleShare(): cw.MathExpression {
    return this.math("IF(calls > 0, throttled / calls, 0)", { calls: this.metric("Auth0Calls"), throttled: this.metric("Auth0Status429") }, "429 share");
  }
}

/** A queue's AWS/SQS metrics: levels, so their Maximum over a period (CDK's default statistic for them). */
export class QueueMetricFactory {
  constructor(private readonly queue: sqs.IQueue) {}

  visible(options?: cw.MetricOptions): cw.Metric {
    return this.queue.metricApproximateNumberOfMessagesVisible(options);
  }

  inFlight(options?: cw.MetricOptions): cw.Metric {
    return this.queue.metricApproximateNumberOfMessagesNotVisible(options);
  }

  oldestAgeSeconds(options?: cw.MetricOptions): cw.Metric {
    return this.queue.metricApproximateAgeOfOldestMessage(options);
  }
}

/** A function's AWS/Lambda metrics (errors and throttles are sums by default, duration an average). */
export class FunctionMetricFactory {
  constructor(private readonly fn: lambda.IFunction) {}

  errors(options?: cw.MetricOptions): cw.Metric {
    return this.fn.metricErrors(options);
  }

  throttles(options?: cw.MetricOptions): cw.Metric {
    return this.fn.metricThrottles(options);
  }

  durationP95(options?: Omit<cw.MetricOptions, "statistic">): cw.Metric {
    return this.fn.metricDuration({ ...options, statistic: "p95" });
  }
}

/** The reconcile's metrics: its function's, and its figures over its own schedule period. */
export class ReconcileMetricFactory {
  readonly fn: FunctionMetricFactory;
  /** A reconcile emits its figures once, when it ends: the largest of a period is that period's reconcile. */
  readonly period: Duration;

  constructor(
    private readonly metrics: SyncMetricFactory,
    reconcile: Reconcile,
    config: SyncConfig,
  ) {
    this.fn = new FunctionMetricFactory(reconcile.fn);
    this.period = alarmablePeriod(schedulePeriodSeconds({ schedule: reconcile.settings.schedule, alarms: config.alarms }));
  }

  /** A figure of the reconcile: its Maximum over the reconcile's period. */
  metric(metricName: MetricOf<"reconcile">, label?: string): cw.Metric {
    return this.metrics.metric(metricName, { statistic: "Maximum", period: this.period, label });
  }

  /** The share of the managed users a reconcile found drifted (0 when it found none managed). */
  driftShare(): cw.MathExpression {
    return this.metrics.math("IF(managed > 0, drifted / managed, 0)", { managed: this.metric("ReconcileManaged"), drifted: this.metric("ReconcileDrifted") }, "drift share", this.period);
  }
}

/** A run over an unloaded table: its state machine's executions (AWS/States) and the segment worker's function. */
export class UnloadRunMetricFactory {
  readonly segment: FunctionMetricFactory;

  constructor(private readonly run: UnloadRun) {
    this.segment = new FunctionMetricFactory(run.segment);
  }

  /** Executions that failed or timed out (the failure step recorded the run failed). */
  failed(options?: cw.MetricOptions): cw.MathExpression {
    const machine = this.run.stateMachine;
    return new cw.MathExpression({
      expression: "failed + timedOut",
      usingMetrics: { failed: machine.metricFailed({ statistic: "Sum", ...options }), timedOut: machine.metricTimedOut({ statistic: "Sum", ...options }) },
      period: options?.period ?? DEFAULT_PERIOD,
      label: options?.label ?? "executions failed or timed out",
    });
  }

  succeeded(options?: cw.MetricOptions): cw.Metric {
    return this.run.stateMachine.metricSucceeded({ statistic: "Sum", ...options });
  }

  /** An execution's duration, p95 (AWS/States ExecutionTime, in milliseconds). */
  durationP95(options?: Omit<cw.MetricOptions, "statistic">): cw.Metric {
    return this.run.stateMachine.metricTime({ ...options, statistic: "p95" });
  }
}
