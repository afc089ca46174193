/**
 * The Powertools logger and metrics of each Lambda, made in one place (as the Powertools example app's commons/
 * does): one instance of each per function and process, with the function's service name (the stack sets
 * POWERTOOLS_SERVICE_NAME; locally the default names apply) and the catalog's namespace (core/metrics.ts).
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { METRICS_NAMESPACE } from "../core/metrics.js";

/** The Lambdas of the stack. */
export type FunctionName = "extractor" | "consumer" | "reconcile" | "segment" | "importer" | "watch";

export interface Powertools {
  logger: Logger;
  metrics: Metrics;
}

const made = new Map<FunctionName, Powertools>();

/** The function's logger and metrics (made on first use). */
export function powertoolsOf(fn: FunctionName): Powertools {
  let p = made.get(fn);
  if (!p) {
    const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? `auth0-sync-${fn}`;
    p = { logger: new Logger({ serviceName }), metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE, serviceName }) };
    made.set(fn, p);
  }
  return p;
}
