/**
 * One segment worker in a process of its own (the scale scenario, bench/scale-scenarios.ts): the real segment
 * handler (functions/flows/segment-lambda.ts) over one unloaded Parquet file, reading it from the local S3, checking
 * the ledger on the parent's dynalite and sending into the parent's local SQS, so that its peak RSS is one worker's
 * alone. Prints one JSON line: the segment's tally, its time, its peak RSS and the process's CPU time (or the error it
 * ended with).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { Ledger } from "../functions/adapters/ledger/ledger.js";
import { parseConfig } from "../functions/core/config.js";
import type { Segment } from "../functions/core/segments.js";
import { createSegmentHandler } from "../functions/flows/segment-lambda.js";

const env = process.env;
const fake = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };
const config = parseConfig(env.BENCH_CONFIG ?? "");
// BENCH_REPORT_SENDS: a line on stderr after each SendMessageBatch (the crash scenario kills the worker once it sent).
const sqs = new SQSClient({ ...fake, endpoint: env.BENCH_SQS });
if (env.BENCH_REPORT_SENDS) {
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === "SendMessageBatchCommand") process.stderr.write("sent\n");
      return out;
    },
    { step: "deserialize", name: "benchReportSends" },
  );
}
const handler = createSegmentHandler(({ logger, metrics }) => ({
  config,
  // s3rver checks signatures with its own credentials, and takes path-style addresses only (local/s3.ts).
  s3: new S3Client({ endpoint: env.BENCH_S3, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } }),
  sqs,
  queueUrl: env.BENCH_QUEUE_URL ?? "",
  ledger: new Ledger(new DynamoDBClient({ ...fake, endpoint: env.BENCH_DYNAMO }), env.BENCH_LEDGER_TABLE ?? ""),
  logger,
  metrics,
  unchangedCheck: env.BENCH_UNCHANGED_CHECK === "lookup" ? "lookup" : undefined,
}));
// Sampled, not read from getrusage: ru_maxrss survives fork and exec (see extractor-child.ts).
let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
const context = { getRemainingTimeInMillis: () => 900_000, functionName: "segment", awsRequestId: "bench" } as unknown as Context;
const started = Date.now();
try {
  const tally = await handler({ runId: env.BENCH_RUN_ID ?? "", segment: JSON.parse(env.BENCH_SEGMENT ?? "{}") as Segment }, context);
  const elapsedMs = Date.now() - started;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ tally, elapsedMs, peakRssBytes: peakRss, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stdout.write(`${JSON.stringify({ error: { name: e.name, message: e.message } })}\n`);
  process.exitCode = 1;
} finally {
  clearInterval(sampler);
}
