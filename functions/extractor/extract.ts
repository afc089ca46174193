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
import type { Ledger, LedgerEntry } from "../adapters/ledger/ledger.js";
import type { MirrorOperation, SyncOperation, UserOperation } from "../adapters/sqs/message.js";
import { MAX_BATCH_ENTRIES, QueueSender, packMessages } from "../adapters/sqs/sender.js";
import { queueDepth } from "../adapters/sqs/redrive.js";

export interface ExtractorDeps {
  config: SyncConfig;
  redshift: RedshiftDataClient;
  /** Where operations go; not needed for a dry run. */
  sqs?: SQSClient;
  queueUrl?: string;
  logger: Logger;
  metrics: Metrics;
  poll?: Partial<PollSettings>;
  /** The sync ledger: unchanged rows are dropped here; mirror mode reads managed users from it. */
  ledger?: Ledger;
  onOutcome?: OutcomeSink;
  /** Called after every page, for progress displays. */
  onProgress?: (p: { rowsRead: number; enqueued: number; rejected: number }) => void;
  /**
   * A dry run (the CLI's plan): operations go to this callback instead of SQS and the ledger is only read
   * (no run item is written).
   */
  dryRun?: { onOperation: (op: UserOperation) => void | Promise<void> };
}

export interface ExtractorEvent {
  runId?: string;
  /** Approve this run's mirror deletions/blocks even over the threshold (the CLI's approval). */
  approveMirror?: boolean;
}

export interface ExtractorResult {
  runId: string;
  /** Why the run did not start (see `admit`); every figure is then 0. */
  skipped?: string;
  rowsRead: number;
  rejected: number;
  /** Rows whose fingerprint equals the ledger's: counted, not enqueued. */
  unchanged: number;
  enqueued: number;
  /** Mirror mode: managed users absent from the run, by planned action; held when over the threshold. */
  mirror?: { absent: number; block: number; delete: number; held: boolean; heldReason?: string; managed: number };
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
  const runId = event.runId ?? newRunId();
  const started = Date.now();
  const ledger = deps.dryRun ? undefined : deps.ledger;
  if (ledger) {
    const skipped = await admit(deps, ledger, runId);
    if (skipped) {
      deps.logger.warn("run skipped", { runId, reason: skipped });
      deps.metrics.addMetric("RunsSkipped", MetricUnit.Count, 1);
      const at = new Date(started).toISOString();
      await ledger.putRun({ runId, status: "skipped", startedAt: at, finishedAt: at, skippedReason: skipped });
      return { runId, skipped, rowsRead: 0, rejected: 0, unchanged: 0, enqueued: 0, messages: 0, sqsRequests: 0, rejectReasons: {}, sampleRejections: [], elapsedMs: Date.now() - started };
    }
  }
  try {
    return await extractRun(deps, runId, started, event);
  } catch (err) {
    // The run is marked failed so `status` and a following `run` see it end; mirror mode never acted.
    const error = err instanceof Error ? err.message : String(err);
    if (deps.ledger && !deps.dryRun) {
      await deps.ledger
        .putRun({ runId, status: "failed", startedAt: new Date(started).toISOString(), finishedAt: new Date().toISOString(), error: error.slice(0, 1000) })
        .catch(() => undefined);
    }
    throw err;
  } finally {
    await ledger?.releaseRunLock(runId).catch(() => undefined);
  }
}

/**
 * Overlapping runs: one extract at a time (a lock in the ledger, for at most the extractor's timeout), and no
 * new run while the previous one still drains (messages in the queue): the schedule's next tick picks the work
 * up. Returns why the run is skipped, or nothing.
 */
async function admit(deps: ExtractorDeps, ledger: Ledger, runId: string): Promise<string | undefined> {
  const lock = await ledger.acquireRunLock(runId, deps.config.lambda.extractorTimeoutSeconds * 1000);
  if (!lock.ok) return `another extract (${lock.heldBy}) is running`;
  if (deps.sqs && deps.queueUrl) {
    const q = await queueDepth(deps.sqs, deps.queueUrl);
    if (q.visible + q.inFlight > 0) {
      await ledger.releaseRunLock(runId);
      return `the previous run is still draining: ${q.visible + q.inFlight} messages in the queue`;
    }
  }
  return undefined;
}

async function extractRun(deps: ExtractorDeps, runId: string, started: number, event: ExtractorEvent): Promise<ExtractorResult> {
  const { config, logger, metrics } = deps;
  const write = !deps.dryRun;
  logger.appendKeys({ runId });
  const mapper = new ProfileMapper(config);
  const duplicates = new RunDuplicates();
  const accounting = new RunAccounting();
  if (write && (!deps.sqs || !deps.queueUrl)) throw new Error("the extractor needs an SQS client and a queue URL");
  const sender = new QueueSender(deps.sqs!, deps.queueUrl ?? "");
  const samples: Rejection[] = [];
  const perMessage = config.queue.usersPerMessage;
  // Enough operations to fill one SendMessageBatch call before sending.
  const flushAt = perMessage * MAX_BATCH_ENTRIES;
  let buffer: UserOperation[] = [];
  let enqueued = 0;

  const flush = async () => {
    if (buffer.length === 0) return;
    if (deps.dryRun) {
      for (const op of buffer) await deps.dryRun.onOperation(op);
    } else {
      const bodies = packMessages(runId, buffer, perMessage);
      await sender.send(bodies.map((b) => b.body));
    }
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

  // Rows whose desired profile is what the ledger says was applied cost nothing: counted here, never enqueued.
  let unchanged = 0;
  const filterUnchanged = async (ops: SyncOperation[]) => {
    if (!deps.ledger || ops.length === 0) {
      buffer.push(...ops);
      return;
    }
    const known = await deps.ledger.getMany(ops.map((o) => o.desired.key));
    for (const op of ops) {
      const e = known.get(op.desired.key);
      if (e?.userId && e.managed && e.fingerprint === op.fingerprint && !e.blockedAt) {
        unchanged++;
        accounting.record("unchanged");
        deps.onOutcome?.({ runId, key: op.desired.key, keyLabel: op.keyLabel, row: op.row, outcome: "unchanged", userId: e.userId });
      } else {
        buffer.push(op);
      }
    }
  };
  const seen = config.mirror.enabled && deps.ledger ? new Set<string>() : undefined;
  let pageOps: SyncOperation[] = [];

  if (deps.ledger && write) await deps.ledger.putRun({ runId, status: "running", startedAt: new Date(started).toISOString() });
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
      pageOps.push({ kind: "sync", row: rowNumber, keyLabel, fingerprint: fingerprint(profile), desired: profile });
      seen?.add(profile.key);
    }
    await filterUnchanged(pageOps);
    pageOps = [];
    if (buffer.length >= flushAt) await flush();
    deps.onProgress?.({ rowsRead: accounting.rowsRead, enqueued: enqueued + buffer.length, rejected: accounting.count("rejected") });
  }
  await flush();

  // Mirror mode, only after a complete extract (an exception above never gets here).
  let mirror: Awaited<ReturnType<typeof planMirror>> | undefined;
  if (seen && deps.ledger) {
    mirror = await planMirror(config, deps.ledger, seen, event.approveMirror === true);
    if (!mirror.held && mirror.ops.length > 0) {
      accounting.addAbsent(mirror.ops.length);
      buffer.push(...mirror.ops);
      await flush();
    }
    if (mirror.held) {
      metrics.addMetric("RunsHeld", MetricUnit.Count, 1);
      logger.warn("mirror run held", { reason: mirror.heldReason, absent: mirror.absent, managed: mirror.managed });
    }
  }

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
    unchanged,
    enqueued,
    mirror: mirror && { absent: mirror.absent, block: mirror.block, delete: mirror.delete, held: mirror.held, heldReason: mirror.heldReason, managed: mirror.managed },
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
  if (deps.ledger && write) {
    await deps.ledger.putRun({
      runId,
      status: mirror?.held ? "held" : "completed",
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      summary: { ...result, sampleRejections: undefined },
      heldReason: mirror?.heldReason,
    });
  }
  return result;
}

/**
 * Managed users absent from this run become block or delete operations, unless there are more of them than the
 * threshold allows (by count or by share of managed users): then nothing at all is done and the run is held.
 */
export async function planMirror(config: SyncConfig, ledger: Ledger, seen: Set<string>, approved: boolean) {
  const m = config.mirror;
  const ignore = new Set(m.ignore.map((x) => x.toLowerCase()));
  const now = Date.now();
  let managed = 0;
  const ops: MirrorOperation[] = [];
  let block = 0;
  let del = 0;
  for await (const e of ledger.entries()) {
    if (!e.managed || !e.userId) continue;
    managed++;
    if (seen.has(e.key)) continue;
    if (ignore.has(e.key.toLowerCase()) || (e.profile?.email && ignore.has(e.profile.email))) continue;
    const kind = mirrorAction(m, e, now);
    if (!kind) continue;
    ops.push({ kind, key: e.key, keyLabel: config.identity.keyColumn ? e.key : `#${hashKey(e.key)}`, userId: e.userId });
    if (kind === "block") block++;
    else del++;
  }
  const share = managed > 0 ? ops.length / managed : 0;
  const over = ops.length > m.threshold.maxCount || share > m.threshold.maxShare;
  const held = over && !(m.approve || approved);
  const heldReason = held
    ? `${ops.length} of ${managed} managed users (${(share * 100).toFixed(1)}%) are absent; the threshold is ${m.threshold.maxCount} users or ${(m.threshold.maxShare * 100).toFixed(1)}%. Approve with mirror.approve or the CLI.`
    : undefined;
  return { ops: held ? [] : ops, absent: ops.length, block, delete: del, held, heldReason, managed };
}

function mirrorAction(m: SyncConfig["mirror"], e: LedgerEntry, now: number): "block" | "delete" | undefined {
  if (m.action === "delete") return "delete";
  if (m.action === "block") return e.blockedAt ? undefined : "block";
  if (!e.blockedAt) return "block";
  return now - Date.parse(e.blockedAt) >= m.deleteAfterDays * 86_400_000 ? "delete" : undefined;
}
