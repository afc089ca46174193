/**
 * The extractor's work: stream the warehouse result page by page through the core, reject bad rows with a
 * reason, and fan the rest into SQS, many users per message. Never holds more than a page (plus one send
 * buffer) in memory.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit, type Metrics } from "@aws-lambda-powertools/metrics";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import type { SyncConfig } from "../core/config.js";
import { fingerprint } from "../core/fingerprint.js";
import { RunAccounting, type OutcomeSink } from "../core/outcomes.js";
import { ProfileMapper, RunDuplicates, hashKey } from "../core/profile.js";
import type { RejectCode, Rejection } from "../core/types.js";
import { RedshiftSource, type PollSettings } from "../adapters/redshift/source.js";
import type { UserOperation } from "../adapters/sqs/message.js";
import { MAX_BATCH_ENTRIES, QueueSender, packMessages } from "../adapters/sqs/sender.js";

export interface ExtractorDeps {
  config: SyncConfig;
  redshift: RedshiftDataClient;
  sqs: SQSClient;
  queueUrl: string;
  logger: Logger;
  metrics: Metrics;
  poll?: Partial<PollSettings>;
  onOutcome?: OutcomeSink;
  /** Called after every page, for progress displays. */
  onProgress?: (p: { rowsRead: number; enqueued: number; rejected: number }) => void;
}

export interface ExtractorEvent {
  runId?: string;
}

export interface ExtractorResult {
  runId: string;
  rowsRead: number;
  rejected: number;
  enqueued: number;
  messages: number;
  sqsRequests: number;
  rejectReasons: Partial<Record<RejectCode, number>>;
  /** The first rejections (at most 20), for a human reading the result. */
  sampleRejections: Rejection[];
  elapsedMs: number;
}

export function newRunId(now = new Date()): string {
  return `run-${now.toISOString().replace(/[-:.]/g, "").slice(0, 15)}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function extract(deps: ExtractorDeps, event: ExtractorEvent = {}): Promise<ExtractorResult> {
  const started = Date.now();
  const { config, logger, metrics } = deps;
  const runId = event.runId ?? newRunId();
  logger.appendKeys({ runId });
  const mapper = new ProfileMapper(config);
  const duplicates = new RunDuplicates();
  const accounting = new RunAccounting();
  const sender = new QueueSender(deps.sqs, deps.queueUrl);
  const samples: Rejection[] = [];
  const perMessage = config.queue.usersPerMessage;
  // Enough operations to fill one SendMessageBatch call before sending.
  const flushAt = perMessage * MAX_BATCH_ENTRIES;
  let buffer: UserOperation[] = [];
  let enqueued = 0;

  const flush = async () => {
    if (buffer.length === 0) return;
    const bodies = packMessages(runId, buffer, perMessage);
    await sender.send(bodies.map((b) => b.body));
    enqueued += buffer.length;
    accounting.dispatch(buffer.length);
    buffer = [];
  };

  const reject = (r: Rejection, key: string | undefined) => {
    accounting.record("rejected", { code: r.code });
    if (samples.length < 20) samples.push(r);
    // Hashed key only: the key may be an email, and logs never carry one.
    logger.warn("row rejected", { row: r.row, keyHash: key ? hashKey(key) : undefined, code: r.code, field: r.field, reason: r.reason });
    deps.onOutcome?.({ runId, key: key ?? `row:${r.row}`, keyLabel: r.keyLabel, row: r.row, outcome: "rejected", rejection: r });
  };

  const source = new RedshiftSource(deps.redshift, config.source, deps.poll);
  let rowNumber = 0;
  for await (const page of source.run()) {
    for (const row of page.rows) {
      rowNumber++;
      accounting.read();
      const mapped = mapper.map(row, rowNumber);
      if (!mapped.ok) {
        reject(mapped.rejection, undefined);
        continue;
      }
      const { profile } = mapped;
      const keyLabel = mapper.keyLabel(profile.key);
      const dup = duplicates.check(profile, rowNumber, keyLabel);
      if (dup) {
        // The key of a duplicate is shared with an earlier row; report it under the row, not the key.
        reject(dup, undefined);
        continue;
      }
      buffer.push({ kind: "sync", row: rowNumber, keyLabel, fingerprint: fingerprint(profile), desired: profile });
      if (buffer.length >= flushAt) await flush();
    }
    deps.onProgress?.({ rowsRead: accounting.rowsRead, enqueued: enqueued + buffer.length, rejected: accounting.count("rejected") });
  }
  await flush();

  const snap = accounting.snapshot();
  metrics.addMetric("RowsRead", MetricUnit.Count, snap.rowsRead);
  metrics.addMetric("RowsRejected", MetricUnit.Count, snap.rejected);
  metrics.addMetric("RowsEnqueued", MetricUnit.Count, enqueued);
  metrics.addMetric("SqsRequests", MetricUnit.Count, sender.stats.requests);
  // The "no successful run" alarm watches this one.
  metrics.addMetric("RunsSucceeded", MetricUnit.Count, 1);
  const result: ExtractorResult = {
    runId,
    rowsRead: snap.rowsRead,
    rejected: snap.rejected,
    enqueued,
    messages: sender.stats.messages,
    sqsRequests: sender.stats.requests,
    rejectReasons: snap.rejectReasons,
    sampleRejections: samples,
    elapsedMs: Date.now() - started,
  };
  if (snap.unaccounted !== 0) {
    logger.error("extract accounting does not add up", { rowsRead: snap.rowsRead, rejected: snap.rejected, enqueued, unaccounted: snap.unaccounted });
    throw new Error(`extract accounting does not add up: ${snap.unaccounted} rows unaccounted`);
  }
  logger.info("extract finished", { ...result, sampleRejections: undefined });
  return result;
}
