/**
 * Extractor Lambda: started by the schedule with an optional run id; thin wiring of the Redshift and SQS
 * adapters to the core (see extract.ts).
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import middy from "@middy/core";
import { Ledger } from "../adapters/ledger/ledger.js";
import { openRowSource } from "../adapters/row-source.js";
import { loadConfig, loadSourceTenantAccess } from "../adapters/runtime/config.js";
import { METRICS_NAMESPACE } from "../core/metrics.js";
import { extract, type ExtractorDeps, type ExtractorEvent, type ExtractorResult } from "./extract.js";

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "auth0-sync-extractor" });
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "auth0-sync-extractor" });

export type DepsFactory = (base: { logger: Logger; metrics: Metrics }) => ExtractorDeps | Promise<ExtractorDeps>;

/** Production wiring: config from the environment, AWS clients from the Lambda's role and region. */
export const defaultDeps: DepsFactory = async ({ logger, metrics }) => {
  const queueUrl = process.env.QUEUE_URL;
  if (!queueUrl) throw new Error("QUEUE_URL is not set");
  const ledger = process.env.LEDGER_TABLE ? new Ledger(new DynamoDBClient({}), process.env.LEDGER_TABLE) : undefined;
  const config = loadConfig();
  // The config's source (core/source.ts): the Redshift Data API, or a source tenant for a copy.
  const source = await openRowSource(config, {
    redshift: () => new RedshiftDataClient({}),
    sourceTenant: () => loadSourceTenantAccess(config),
    targetBaseUrl: process.env.AUTH0_BASE_URL || undefined,
  });
  return { config, source, sqs: new SQSClient({}), queueUrl, logger, metrics, ledger };
};

export function createExtractorHandler(factory: DepsFactory = defaultDeps) {
  let deps: Promise<ExtractorDeps> | undefined;
  return middy(async (event: ExtractorEvent = {}): Promise<ExtractorResult> => {
    deps ??= Promise.resolve(factory({ logger, metrics })).catch((err: unknown) => {
      deps = undefined;
      throw err;
    });
    return extract(await deps, event ?? {});
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}

export const handler = createExtractorHandler();
