/**
 * One segment of a run over an unloaded table (docs/scaling.md): what the extractor does for the whole result, done
 * for one Parquet file: its rows read a row group at a time (adapters/s3/parquet-segment.ts), through the page flow
 * (mapped, checked against the ledger, packed) into SQS, the keys it saw written to S3 for mirror mode, and its
 * figures recorded in the ledger when its last user is sent. A worker retried after that (a Map retry, a redriven
 * execution) finds the record and sends nothing; one retried before it sends its users again, which the consumers
 * settle once (a user an earlier delivery of the run settled is a repeat, not counted twice).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { ColumnsError, columnsProblem } from "../core/columns.js";
import type { SyncConfig } from "../core/config.js";
import { RunAccounting, type OutcomeSink } from "../core/outcomes.js";
import type { UnchangedCheckMode } from "../core/unchanged-check.js";
import { SegmentPresence, hashesToBytes, type Segment, type SegmentTally } from "../core/segments.js";
import type { Ledger } from "../adapters/ledger/ledger.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { ParquetSegmentSource } from "../adapters/s3/parquet-segment.js";
import { QueueSender } from "../adapters/sqs/sender.js";
import { ImportRouter } from "./import-router.js";
import { OperationBuffer } from "./operation-buffer.js";
import { PageFlow, loadAppliedFingerprints } from "./page-flow.js";

export interface SegmentDeps {
  config: SyncConfig;
  s3: S3Client;
  sqs: SQSClient;
  queueUrl: string;
  /** Where import batches of new users go (docs/imports.md); without it every user is created one by one. */
  importQueueUrl?: string;
  ledger: Ledger;
  logger: Logger;
  metrics: Metrics;
  flushIntervalMs?: number;
  /** Each rejection and unchanged row, as the extractor reports them (the local runner's report). */
  onOutcome?: OutcomeSink;
  /** How unchanged rows are found (core/unchanged-check.ts): "auto" (the default), or "scan" / "lookup" forced. */
  unchangedCheck?: UnchangedCheckMode;
}

export interface SegmentEvent {
  runId: string;
  segment: Segment;
}

/** Where a segment's keys go (mirror mode): beside the run's files, `<prefix>keys/<index>`. */
export function segmentKeysKey(segment: Pick<Segment, "key" | "index">): string {
  return `${segment.key.slice(0, segment.key.lastIndexOf("/") + 1)}keys/${segment.index}`;
}

export async function runSegment(deps: SegmentDeps, event: SegmentEvent): Promise<SegmentTally> {
  const { config, logger, ledger } = deps;
  const { runId, segment } = event;
  logger.appendKeys({ runId, segment: segment.index });
  const done = await ledger.segments.get(runId, segment.index);
  if (done) {
    logger.info("segment already done", { rowsRead: done.tally.rowsRead });
    return done.tally;
  }
  const accounting = new RunAccounting();
  const sender = new QueueSender(deps.sqs, deps.queueUrl);
  const buffer = new OperationBuffer(config, runId, accounting, { sender }, deps.flushIntervalMs);
  const presence = config.mirror.enabled ? new SegmentPresence() : undefined;
  const pages = new PageFlow({ config, logger, ledger: ledger.users, onOutcome: deps.onOutcome }, runId, accounting, presence, segment.rowOffset);
  // New users through import jobs, decided per segment: a segment holds many thousand rows (docs/imports.md).
  const importSender = deps.importQueueUrl ? new QueueSender(deps.sqs, deps.importQueueUrl) : undefined;
  const imports = ImportRouter.for(config, runId, accounting, importSender && { sender: importSender });
  const source = new ParquetSegmentSource(deps.s3, segment, config.source.type === "redshift" ? config.source.pageSize : 1000);
  let first = true;
  for await (const page of source.pages()) {
    if (first) {
      first = false;
      const problem = page.columns.length > 0 ? columnsProblem(config, page.columns) : undefined;
      if (problem) throw new ColumnsError(problem);
      // The core's policy: a segment is small next to a large ledger, so it usually looks its rows up.
      pages.applied = await loadAppliedFingerprints(ledger.users, runId, deps.unchangedCheck ?? "auto", segment.rows, logger);
    }
    const ops = await pages.rows(page.rows);
    buffer.push(imports ? await imports.route(ops, (op) => pages.firstSeen.has(op), segment.rows - accounting.rowsRead) : ops);
    await buffer.sendDue();
  }
  if (imports) buffer.push(await imports.finish());
  await buffer.flush();
  if (presence) {
    const hashes = presence.sortedHashes();
    await deps.s3.send(new PutObjectCommand({ Bucket: segment.bucket, Key: segmentKeysKey(segment), Body: hashesToBytes(hashes), ContentType: "application/octet-stream" }));
  }
  const snap = accounting.snapshot();
  if (snap.unaccounted !== 0) throw new Error(`segment ${segment.index}: accounting does not add up: ${snap.unaccounted} rows unaccounted`);
  const tally: SegmentTally = {
    index: segment.index,
    rowsRead: snap.rowsRead,
    rejected: snap.rejected,
    unchanged: pages.unchanged,
    enqueued: buffer.enqueued + (imports?.users ?? 0),
    settledEarlier: snap.settledEarlier,
    messages: sender.stats.messages + (importSender?.stats.messages ?? 0),
    sqsRequests: sender.stats.requests + (importSender?.stats.requests ?? 0),
    rejectReasons: snap.rejectReasons,
    unkeyed: presence?.unkeyed ?? 0,
    firstUnkeyedRow: presence?.firstUnkeyedRow,
  };
  // Recorded last: a worker that stops before this line is retried whole. The run's progress counts it once.
  if (await ledger.segments.put({ runId, tally, finishedAt: new Date().toISOString() })) await ledger.runs.addSegmentDone(runId);
  emitMetric(deps.metrics, "SegmentsDone", 1);
  logger.info("segment finished", { ...tally });
  return tally;
}
