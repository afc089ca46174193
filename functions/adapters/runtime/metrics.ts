import { MetricUnit, type Metrics } from "@aws-lambda-powertools/metrics";
import { METRICS, type MetricName } from "../../core/metrics.js";

/** Adds a metric of the catalog (core/metrics.ts) with its unit: a name the catalog lacks does not compile. */
export function emitMetric(metrics: Metrics, name: MetricName, value: number): void {
  metrics.addMetric(name, MetricUnit[METRICS[name].unit], value);
}
