/**
 * The extractor's work: stream the warehouse result page by page through the core, reject bad rows with a
 * reason, and fan the rest into SQS, many users per message. Never holds more than a page (plus one send
 * buffer) in memory.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { consumerBudget, type SyncConfig } from "../core/config.js";
import { fingerprint } from "../core/fingerprint.js";
import { RunAccounting, type OutcomeSink } from "../core/outcomes.js";
import { AppliedFingerprints, ProfileMapper, RunDuplicates, hashKey } from "../core/profile.js";
import { ColumnsError, columnsProblem, unmappedColumns } from "../core/columns.js";
import { RunPresence } from "../core/mirror.js";
import type { RowSource } from "../core/source.js";
import type { RejectCode, Rejection } from "../core/types.js";
import { isApplied, type Ledger, type LedgerEntry } from "../adapters/ledger/ledger.js";
import { interruptedReason, newRunId, type RunSummary } from "../core/runs.js";
import type { MirrorOperation, SyncOperation, UserOperation } from "../adapters/sqs/message.js";
import { MAX_BATCH_ENTRIES, QueueSender, packMessages } from "../adapters/sqs/sender.js";
import { queueDepth } from "../adapters/sqs/redrive.js";
import { emitMetric } from "../adapters/runtime/metrics.js";

export interface ExtractorDeps {
  config: SyncConfig;
  /** Where the rows come from (core/source.ts): the Redshift Data API deployed, any RowSource in tests. */
  source: RowSource;
  /** Where operations go; not needed for a dry run. */
  sqs?: SQSClient;
  queueUrl?: string;
  logger: Logger;
  metrics: Metrics;
  /** The sync ledger: unchanged rows are dropped here; mirror mode reads managed users from it. */
  ledger?: Ledger;
  onOutcome?: OutcomeSink;
  /** Called after every page, for progress displays; `totalRows` is the statement's row count once known. */
  onProgress?: (p: { rowsRead: number; enqueued: number; rejected: number; totalRows?: number }) => void;
  /**
   * A dry run (the CLI's plan): operations go to this callback instead of SQS and the ledger is only read
   * (no run item is written).
   */
  dryRun?: { onOperation: (op: UserOperation) => void | Promise<void> };
  /**
   * How unchanged rows are found (see `chooseUnchangedCheck`): "auto" (the default) decides per run from the
   * result's and the ledger's sizes; "scan" and "lookup" force one way (tests and benchmarks).
   */
  unchangedCheck?: "auto" | "scan" | "lookup";
  /** Operations waiting longer than this are sent even if a full SendMessageBatch is not ready (default 1 s). */
  flushIntervalMs?: number;
  /** Stops the extract after the current page (the local runner's Ctrl-C): the run is recorded interrupted. */
  signal?: AbortSignal;
}

/** The extract was stopped on purpose (see `ExtractorDeps.signal`); what it had sent is applied. */
export class RunCancelledError extends Error {
  readonly retryable = false;
  constructor(
    readonly runId: string,
    readonly rowsRead: number,
  ) {
    super(`the run was cancelled after reading ${rowsRead.toLocaleString("en-US")} rows; what it had sent is applied, the rest goes with the next run`);
    this.name = "RunCancelledError";
  }
}

/** How often a running extract records its progress on its run item. */
const PROGRESS_WRITE_MS = 10_000;

/** Scanning the ledger pays when it holds at most this many items per row the run reads (see below). */
export const SCAN_ITEMS_PER_ROW = 4;

/**
 * Reading the whole ledger once (a parallel Scan projecting key and fingerprint) or looking each row up
 * (BatchGetItem, 100 keys a request). A lookup costs a read unit per item (each rounded up to 4 KB); a Scan
 * costs the items' total size in 4 KB units, so with entries of about 1 KB a Scan of up to four items per row
 * read costs no more, in a hundredth of the requests, and can run before the first page is compared. A run that
 * reads a small part of a large ledger (an incremental query) looks its rows up.
 */
export function chooseUnchangedCheck(resultRows: number, ledgerItems: number): "scan" | "lookup" {
  return ledgerItems <= SCAN_ITEMS_PER_ROW * Math.max(resultRows, 1) ? "scan" : "lookup";
}

/** Parallel Scan segments for a ledger of this many items: 4 up to 100,000 items, then one per 25,000, at most 16. */
export function scanSegments(ledgerItems: number): number {
  return Math.min(16, Math.max(4, Math.ceil(ledgerItems / 25_000)));
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
  /** Columns of the result the config does not name, sent to user_metadata under their names (`unmappedColumns`). */
  unmappedColumns?: string[];
  elapsedMs: number;
}

export async function extract(deps: ExtractorDeps, event: ExtractorEvent = {}): Promise<ExtractorResult> {
  const runId = event.runId ?? newRunId();
  const started = Date.now();
  const ledger = deps.dryRun ? undefined : deps.ledger;
  let rowsRead: number | undefined;
  // Once taken, the run lock is released on every path below (a failed admission check included), so a failure
  // never holds it for the extractor's timeout and skips the runs after it.
  let locked = false;
  try {
    let lastRowsRead: number | undefined;
    if (ledger) {
      const lock = await ledger.acquireRunLock(runId, deps.config.lambda.extractorTimeoutSeconds * 1000);
      if (!lock.ok) return await skip(deps, ledger, runId, started, `another extract (${lock.heldBy}) is running`);
      locked = true;
      if (lock.expiredHolder) await markInterrupted(deps, ledger, lock.expiredHolder);
      const draining = await stillDraining(deps);
      if (draining) return await skip(deps, ledger, runId, started, draining);
      lastRowsRead = lock.lastRowsRead;
    }
    const result = await extractRun(deps, runId, started, event, lastRowsRead);
    rowsRead = result.rowsRead;
    return result;
  } catch (err) {
    // The run is marked failed so `status` and a following `run` see it end; mirror mode never acted.
    const error = err instanceof Error ? err.message : String(err);
    const status = err instanceof RunCancelledError ? "interrupted" : "failed";
    deps.logger.error(`run ${status}`, { runId, error });
    // Also what the dashboard counts (and the run's one metric: the middleware has something to publish).
    emitMetric(deps.metrics, status === "interrupted" ? "RunsInterrupted" : "RunsFailed", 1);
    if (deps.ledger && !deps.dryRun) {
      await deps.ledger
        .putRun({ runId, status, startedAt: new Date(started).toISOString(), finishedAt: new Date().toISOString(), error: error.slice(0, 1000) })
        .catch(() => undefined);
    }
    throw err;
  } finally {
    if (locked) await ledger?.releaseRunLock(runId, rowsRead).catch(() => undefined);
  }
}

/** The run whose expired lock this run took: it stopped before the end, and is recorded so, with its progress. */
async function markInterrupted(deps: ExtractorDeps, ledger: Ledger, runId: string): Promise<void> {
  const run = await ledger.getRun(runId);
  if (run?.status !== "running") return;
  const reason = interruptedReason(run.summary);
  if (await ledger.markInterrupted(runId, reason)) deps.logger.warn("earlier run interrupted", { interruptedRunId: runId, reason });
}

/** A run that does not start (see `extract`): recorded as skipped with its reason; every figure is 0. */
async function skip(deps: ExtractorDeps, ledger: Ledger, runId: string, started: number, reason: string): Promise<ExtractorResult> {
  deps.logger.warn("run skipped", { runId, reason });
  emitMetric(deps.metrics, "RunsSkipped", 1);
  const at = new Date(started).toISOString();
  await ledger.putRun({ runId, status: "skipped", startedAt: at, finishedAt: at, skippedReason: reason });
  return { runId, skipped: reason, rowsRead: 0, rejected: 0, unchanged: 0, enqueued: 0, messages: 0, sqsRequests: 0, rejectReasons: {}, sampleRejections: [], elapsedMs: Date.now() - started };
}

/**
 * Overlapping runs: one extract at a time (the ledger's run lock, for at most the extractor's timeout), and no
 * new run while the previous one still drains (messages in the queue): the schedule's next tick picks the work
 * up. Returns why the run is skipped, if it is.
 */
async function stillDraining(deps: ExtractorDeps): Promise<string | undefined> {
  if (!deps.sqs || !deps.queueUrl) return undefined;
  const q = await queueDepth(deps.sqs, deps.queueUrl);
  return q.visible + q.inFlight > 0 ? `the previous run is still draining: ${q.visible + q.inFlight} messages in the queue` : undefined;
}

async function extractRun(deps: ExtractorDeps, runId: string, started: number, event: ExtractorEvent, lastRowsRead?: number): Promise<ExtractorResult> {
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

  const flushIntervalMs = deps.flushIntervalMs ?? 1000;
  // A send of less than a full batch is spread over up to one message per consumer instance (at most one
  // SendMessageBatch), so a handful of changes is worked on by all instances at once, each at its share of the
  // rate limit, instead of by one.
  const spreadOver = Math.min(MAX_BATCH_ENTRIES, consumerBudget(config).maxConcurrency);
  let lastFlush = Date.now();
  const flush = async () => {
    lastFlush = Date.now();
    if (buffer.length === 0) return;
    if (deps.dryRun) {
      for (const op of buffer) await deps.dryRun.onOperation(op);
    } else {
      const size = buffer.length >= flushAt ? perMessage : Math.min(perMessage, Math.ceil(buffer.length / spreadOver));
      const bodies = packMessages(runId, buffer, size);
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
  // The ledger is read once up front (a Scan) or row by row (lookups); see chooseUnchangedCheck.
  let unchanged = 0;
  let applied: AppliedFingerprints | undefined;
  const countUnchanged = (op: SyncOperation, userId?: string) => {
    unchanged++;
    accounting.record("unchanged");
    deps.onOutcome?.({ runId, key: op.desired.key, keyLabel: op.keyLabel, row: op.row, outcome: "unchanged", userId });
  };
  const filterUnchanged = async (ops: SyncOperation[]) => {
    if (!deps.ledger || ops.length === 0) {
      buffer.push(...ops);
      return;
    }
    if (applied) {
      for (const op of ops) {
        if (applied.isApplied(op.desired.key, op.fingerprint)) countUnchanged(op);
        else buffer.push(op);
      }
      return;
    }
    const known = await deps.ledger.getMany(ops.map((o) => o.desired.key));
    for (const op of ops) {
      const e = known.get(op.desired.key);
      if (isApplied(e, op.fingerprint)) countUnchanged(op, e.userId);
      else buffer.push(op);
    }
  };
  // Mirror mode: every key a row carries, recorded before the row is validated (see core/mirror.ts).
  const presence = config.mirror.enabled && deps.ledger ? new RunPresence() : undefined;
  let pageOps: SyncOperation[] = [];

  // With the last run's row count as the estimate of this one's, the ledger is read while the warehouse runs the
  // statement; without one (the first run, a dry run) once the statement's row count is known.
  const early = deps.ledger && lastRowsRead !== undefined ? loadApplied(deps, deps.ledger, lastRowsRead) : undefined;
  early?.catch(() => undefined); // awaited at the first page; a failed statement must not leave it unhandled
  if (deps.ledger && write) await deps.ledger.putRun({ runId, status: "running", startedAt: new Date(started).toISOString() });
  const source = deps.source;
  let rowNumber = 0;
  let first = true;
  let lastProgressWrite = Date.now();
  let unmapped: string[] = [];
  for await (const page of source.pages()) {
    if (first) {
      first = false;
      // Before any row: a column the config names and the statement does not return fails the run (nothing sent).
      // (An empty result without column metadata has nothing to check.)
      const problem = page.columns.length > 0 || page.rows.length > 0 ? columnsProblem(config, page.columns) : undefined;
      if (problem) throw new ColumnsError(problem);
      unmapped = unmappedColumns(config, page.columns);
      if (deps.ledger) applied = await (early ?? loadApplied(deps, deps.ledger, source.resultRows ?? 0));
    }
    for (const row of page.rows) {
      rowNumber++;
      accounting.read();
      presence?.observe(mapper.identityKey(row), rowNumber);
      const mapped = mapper.map(row, rowNumber);
      if (!mapped.ok) {
        reject(mapped.rejection, undefined);
        continue;
      }
      const { profile } = mapped;
      const keyLabel = mapper.keyLabel(profile.key);
      let dup = duplicates.check(profile, rowNumber, keyLabel);
      // Of two rows with one email under two keys, the row whose key the ledger already maps to that email wins,
      // whichever comes first (an earlier row that took it is refused by Auth0's 409 and the identity check).
      if (dup?.code === "duplicate_email" && deps.ledger && (await ownsEmail(deps.ledger, profile.key, profile.email))) dup = undefined;
      if (dup) {
        // The key of a duplicate is shared with an earlier row; report it under the row, not the key.
        reject(dup, undefined);
        continue;
      }
      pageOps.push({ kind: "sync", row: rowNumber, keyLabel, fingerprint: fingerprint(profile), desired: profile });
    }
    await filterUnchanged(pageOps);
    pageOps = [];
    if (deps.signal?.aborted) {
      // What this page produced is still sent (those rows are accounted for); the rest is never read.
      await flush();
      throw new RunCancelledError(runId, accounting.rowsRead);
    }
    // A full SendMessageBatch when there is one; otherwise what waited long enough, so that a few changed rows
    // among many unchanged ones reach the consumers while the read goes on, not at its end.
    if (buffer.length >= flushAt || (buffer.length > 0 && Date.now() - lastFlush >= flushIntervalMs)) await flush();
    deps.onProgress?.({ rowsRead: accounting.rowsRead, enqueued: enqueued + buffer.length, rejected: accounting.count("rejected"), totalRows: source.resultRows });
    // What the extract has done so far, on its run item: if the extractor stops (a timeout), the run is marked
    // interrupted with it, and `status` can tell which users were sent.
    if (deps.ledger && write && Date.now() - lastProgressWrite >= PROGRESS_WRITE_MS) {
      lastProgressWrite = Date.now();
      await deps.ledger.putRun({ runId, status: "running", startedAt: new Date(started).toISOString(), summary: { rowsRead: accounting.rowsRead, unchanged, rejected: accounting.count("rejected"), enqueued, partial: true } });
    }
  }
  await flush();

  // Mirror mode, only after a complete extract (an exception above never gets here).
  let mirror: Awaited<ReturnType<typeof planMirror>> | undefined;
  if (presence && deps.ledger) {
    mirror = await planMirror(config, deps.ledger, presence, event.approveMirror === true);
    if (!mirror.held && mirror.ops.length > 0) {
      accounting.addAbsent(mirror.ops.length);
      buffer.push(...mirror.ops);
      await flush();
    }
    if (mirror.held) {
      emitMetric(metrics, "RunsHeld", 1);
      logger.warn("mirror run held", { reason: mirror.heldReason, absent: mirror.absent, managed: mirror.managed });
    }
  }

  const snap = accounting.snapshot();
  emitMetric(metrics, "RowsRead", snap.rowsRead);
  emitMetric(metrics, "RowsRejected", snap.rejected);
  emitMetric(metrics, "RowsEnqueued", enqueued);
  emitMetric(metrics, "SqsRequests", sender.stats.requests);
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
    unmappedColumns: unmapped,
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
      summary: runSummary(result),
      heldReason: mirror?.heldReason,
    });
  }
  // Last, and only once everything above held: the "no successful run" alarm watches this metric, and Powertools
  // flushes metrics on errors too, so emitting it earlier would let a failed run silence that alarm.
  emitMetric(metrics, "RunsSucceeded", 1);
  return result;
}

/** What the run's record keeps of the result: its figures, without the sample rows (they name keys). */
function runSummary({ sampleRejections: _samples, skipped: _skipped, runId: _runId, ...figures }: ExtractorResult): RunSummary {
  return figures;
}

/** Whether the ledger maps this email to this key: the managed user it last applied there has that email. */
async function ownsEmail(ledger: Ledger, key: string, email: string): Promise<boolean> {
  const e = (await ledger.getMany([key])).get(key);
  return Boolean(e?.managed && e.userId && e.profile?.email === email);
}

/** The applied fingerprints read with one Scan, or nothing when this run looks its rows up instead. */
async function loadApplied(deps: ExtractorDeps, ledger: Ledger, expectedRows: number): Promise<AppliedFingerprints | undefined> {
  const mode = deps.unchangedCheck ?? "auto";
  if (mode === "lookup") return undefined;
  const started = Date.now();
  let ledgerItems: number;
  try {
    ledgerItems = await ledger.approximateItemCount();
  } catch (err) {
    // Sizing is an optimisation: without it (e.g. an operator's role lacking DescribeTable) rows are looked up.
    deps.logger.warn("unchanged check: the ledger's size is unknown, looking rows up", { error: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
  if (mode === "auto" && chooseUnchangedCheck(expectedRows, ledgerItems) === "lookup") {
    deps.logger.info("unchanged check", { method: "lookup", expectedRows, ledgerItems });
    return undefined;
  }
  const index = new AppliedFingerprints();
  await ledger.scanApplied((key, fp) => index.add(key, fp), scanSegments(ledgerItems));
  deps.logger.info("unchanged check", { method: "scan", expectedRows, ledgerItems, applied: index.size, ms: Date.now() - started });
  return index;
}

/**
 * Managed users absent from this run become block or delete operations, unless there are more of them than the
 * threshold allows (by count or by share of managed users): then nothing at all is done and the run is held.
 */
export async function planMirror(config: SyncConfig, ledger: Ledger, presence: RunPresence, approved: boolean) {
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
    if (presence.has(e.key)) continue;
    if (ignore.has(e.key.toLowerCase()) || (e.profile?.email && ignore.has(e.profile.email))) continue;
    const kind = mirrorAction(m, e, now);
    if (!kind) continue;
    ops.push({ kind, key: e.key, keyLabel: config.identity.keyColumn ? e.key : `#${hashKey(e.key)}`, userId: e.userId });
    if (kind === "block") block++;
    else del++;
  }
  const share = managed > 0 ? ops.length / managed : 0;
  const over = ops.length > m.threshold.maxCount || share > m.threshold.maxShare;
  // Rows without a usable key hide who is absent: held whatever the threshold and any approval.
  const incomplete = presence.incompleteReason(config.identity);
  const overThreshold = over && !(m.approve || approved);
  const held = incomplete !== undefined || overThreshold;
  const heldReason = incomplete
    ? `absent users cannot be known: ${incomplete}.`
    : overThreshold
      ? `${ops.length} of ${managed} managed users (${(share * 100).toFixed(1)}%) are absent; the threshold is ${m.threshold.maxCount} users or ${(m.threshold.maxShare * 100).toFixed(1)}%. Nothing was blocked or deleted: if the table is right, approve with 'auth0-sync run --approve-mirror' (or mirror.approve: true).`
      : undefined;
  return { ops: held ? [] : ops, absent: ops.length, block, delete: del, held, heldReason, managed };
}

function mirrorAction(m: SyncConfig["mirror"], e: LedgerEntry, now: number): "block" | "delete" | undefined {
  if (m.action === "delete") return "delete";
  if (m.action === "block") return e.blockedAt ? undefined : "block";
  if (!e.blockedAt) return "block";
  return now - Date.parse(e.blockedAt) >= m.deleteAfterDays * 86_400_000 ? "delete" : undefined;
}
