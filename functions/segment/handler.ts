/**
 * Segment worker Lambda: wiring only. Invoked by the unload state machine's Distributed Map with one segment (one
 * unloaded Parquet file); production dependencies (config from the environment, S3, SQS and the ledger from the
 * Lambda's role); the work is the segment flow (functions/flows/segment-run.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { Ledger } from "../adapters/ledger/ledger.js";
import { loadConfig } from "../adapters/runtime/config.js";
import { createSegmentHandler, type SegmentDepsFactory } from "../flows/segment-lambda.js";

export const defaultDeps: SegmentDepsFactory = ({ logger, metrics }) => {
  const queueUrl = process.env.QUEUE_URL;
  const table = process.env.LEDGER_TABLE;
  if (!queueUrl || !table) throw new Error("QUEUE_URL and LEDGER_TABLE must be set");
  return { config: loadConfig(), s3: new S3Client({}), sqs: new SQSClient({}), queueUrl, importQueueUrl: process.env.IMPORT_QUEUE_URL || undefined, ledger: new Ledger(new DynamoDBClient({}), table), logger, metrics };
};

export const handler = createSegmentHandler(defaultDeps);
