/**
 * One extractor run in a process of its own, so that its peak RSS is the extractor's alone (the warehouse
 * emulator and SQS live in the parent). Prints one JSON line: the run's figures, or the error it ended with.
 */
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { RedshiftSource } from "../functions/adapters/redshift/source.js";
import { parseConfig, warehouseOf } from "../functions/core/config.js";
import { createExtractorHandler } from "../functions/flows/extractor-lambda.js";

const env = process.env;
const fake = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };
const config = parseConfig(env.BENCH_CONFIG ?? "");
const handler = createExtractorHandler(({ logger, metrics }) => ({
  config,
  source: new RedshiftSource(new RedshiftDataClient({ ...fake, endpoint: env.BENCH_REDSHIFT }), warehouseOf(config), { minMs: 10, maxMs: 100 }),
  sqs: new SQSClient({ ...fake, endpoint: env.BENCH_SQS }),
  queueUrl: env.BENCH_QUEUE_URL ?? "",
  logger,
  metrics,
}));
// Sampled here rather than read from getrusage: ru_maxrss survives fork and exec, so it would carry the
// parent's (the warehouse emulator's) peak into the child's figure.
let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
const context = { getRemainingTimeInMillis: () => 900_000, functionName: "extractor", awsRequestId: "bench" } as unknown as Context;
const started = Date.now();
try {
  const r = await handler({}, context);
  const elapsedMs = Date.now() - started;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  process.stdout.write(
    `${JSON.stringify({ rowsRead: r.rowsRead, enqueued: r.enqueued, messages: r.messages, sqsRequests: r.sqsRequests, elapsedMs, peakRssBytes: peakRss })}\n`,
  );
} catch (err) {
  // The run's error as one JSON line (the scale scenario prints the sentence a run over the Data API's limit ends with).
  const e = err instanceof Error ? err : new Error(String(err));
  process.stdout.write(`${JSON.stringify({ error: { name: e.name, message: e.message }, elapsedMs: Date.now() - started, peakRssBytes: peakRss })}\n`);
  process.exitCode = 1;
} finally {
  clearInterval(sampler);
}
