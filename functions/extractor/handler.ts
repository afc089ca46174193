/**
 * Extractor Lambda: wiring only. Started by the schedule with an optional run id (a Data API extract), or by the
 * unload state machine with one step of a run over an unloaded table; production dependencies (config from the
 * environment, the config's row source, SQS, S3 and the ledger from the Lambda's role); the work is the extract run
 * (functions/flows/extract-run.ts) or the unload run's step (functions/flows/unload-run.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { Ledger } from "../adapters/ledger/ledger.js";
import { loadConfig, loadSourceTenantAccess } from "../adapters/runtime/config.js";
import { createExtractorHandler, createUnloadStepHandler, isUnloadStep, type ExtractorDepsFactory } from "../flows/extractor-lambda.js";
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
  const bucket = process.env.UNLOAD_BUCKET;
  // The import queue exists when the config may import new users (docs/imports.md).
  const importQueueUrl = process.env.IMPORT_QUEUE_URL || undefined;
  const writesQueueUrl = process.env.WRITES_QUEUE_URL || undefined;
  return { config, source, sqs: new SQSClient({}), queueUrl, importQueueUrl, writesQueueUrl, logger, metrics, ledger, unload: bucket ? { s3: new S3Client({}), bucket } : undefined };
};

// One set of dependencies per instance, whichever kind of event comes first (each handler would otherwise make its own).
let shared: Promise<Awaited<ReturnType<ExtractorDepsFactory>>> | undefined;
const sharedDeps: ExtractorDepsFactory = (base) =>
  (shared ??= Promise.resolve(defaultDeps(base)).catch((err: unknown) => {
    shared = undefined;
    throw err;
  }));

const extract = createExtractorHandler(sharedDeps);
const unloadStep = createUnloadStepHandler(sharedDeps);

export const handler = (event: unknown, context: Context) => (isUnloadStep(event) ? unloadStep(event, context) : extract(event as Parameters<typeof extract>[0], context));
