/**
 * Extractor Lambda: wiring only. Started by the schedule with an optional run id; production dependencies (config
 * from the environment, the config's row source, SQS and the ledger from the Lambda's role); the work is the
 * extract run (functions/flows/extract-run.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { SQSClient } from "@aws-sdk/client-sqs";
import { Ledger } from "../adapters/ledger/ledger.js";
import { loadConfig, loadSourceTenantAccess } from "../adapters/runtime/config.js";
import { createExtractorHandler, type ExtractorDepsFactory } from "../flows/extractor-lambda.js";
import { openRowSource } from "../flows/row-source.js";

export const defaultDeps: ExtractorDepsFactory = async ({ logger, metrics }) => {
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

export const handler = createExtractorHandler(defaultDeps);
