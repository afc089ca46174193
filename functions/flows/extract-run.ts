/**
 * The extract of a run: one at a time (the ledger's run lock) and never while the previous run still drains; the
 * source read page by page through the page flow (page-flow.ts), the operations packed into SQS messages
 * (operation-buffer.ts), then, after a complete extract only, mirror mode's absent users (core/mirror.ts), the run's
 * record and its metrics. Never holds more than a page (plus one send buffer) in memory. The extractor Lambda runs
 * it; `auth0-sync plan` runs it as a dry run (operations to a callback, the ledger only read).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { ColumnsError, columnsProblem, unmappedColumns } from "../core/columns.js";
import type { SyncConfig } from "../core/config.js";
import { SyncError } from "../core/errors.js";
import { RunPresence, type MirrorPlan } from "../core/mirror.js";
import type { ImportEntry } from "../core/import-batches.js";
import type { SyncOperation, UserOperation } from "../core/operations.js";
import { RunAccounting, type OutcomeSink } from "../core/outcomes.js";
import { newRunId, type ExtractorResult, type RunSummary } from "../core/runs.js";
import type { RowSource } from "../core/source.js";
import type { UnchangedCheckMode } from "../core/unchanged-check.js";
import type { Ledger } from "../adapters/ledger/ledger.js";
import { RedshiftSource, type StatementState } from "../adapters/redshift/source.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { QueueSender } from "../adapters/sqs/sender.js";
import { runMirror } from "./mirror-run.js";
import { ImportRouter } from "./import-router.js";
import { OperationBuffer } from "./operation-buffer.js";
import { admitRun, holdRunLock, recordRunFailure } from "./run-admission.js";
import { PageFlow, loadAppliedFingerprints } from "./page-flow.js";

export interface ExtractorDeps {
  config: SyncConfig;
  /** Where the rows come from (core/source.ts): the Redshift Data API deployed, any RowSource in tests. */
  source: RowSource;
  /** Where operations go; not needed for a dry run. */
  sqs?: SQSClient;
  queueUrl?: string;
  /** Where import batches of new users go (docs/imports.md); without it every user is created one by one. */
  importQueueUrl?: string;
  /** The writes queue (core/created-writes.ts), whose depth the admission reads: a run still writing roles drains. */
  writesQueueUrl?: string;
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
  dryRun?: { onOperation: (op: UserOperation) => void | Promise<void>; onImportBatch?: (users: ImportEntry[]) => void | Promise<void> };
  /** How unchanged rows are found (core/unchanged-check.ts): "auto" (the default), or "scan" / "lookup" forced. */
  unchangedCheck?: UnchangedCheckMode;
  /** Operations waiting longer than this are sent even if a full SendMessageBatch is not ready (default 1 s). */
  flushIntervalMs?: number;
  /** Stops the extract after the current page (the local runner's Ctrl-C): the run is recorded interrupted. */
  signal?: AbortSignal;
}

/** The extract was stopped on purpose (see `ExtractorDeps.signal`); what it had sent is applied. */
export class RunCancelledError extends SyncError {
  override readonly name = "RunCancelledError";
  readonly retryable = false;
  constructor(
    readonly runId: string,
    readonly rowsRead: number,
  ) {
    super(`the run was cancelled after reading ${rowsRead.toLocaleString("en-US")} rows; what it had sent is applied, the rest goes with the next run`);
  }
}

/** How often a running extract records its progress on its run item. */
const PROGRESS_WRITE_MS = 10_000;

export interface ExtractorEvent {
  runId?: string;
  /** Approve this run's mirror deletions/blocks even over the threshold (the CLI's approval). */
  approveMirror?: boolean;
}

export type { ExtractorResult } from "../core/runs.js";

export async function runExtract(deps: ExtractorDeps, event: ExtractorEvent = {}): Promise<ExtractorResult> {
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
      const admission = await admitRun(deps, ledger, runId, started, deps.config.lambda.extractorTimeoutSeconds * 1000);
      locked = admission.locked;
      if ("skipped" in admission) return admission.skipped;
      lastRowsRead = admission.lastRowsRead;
    }
    const result = await extractPages(deps, runId, started, event, lastRowsRead);
    rowsRead = result.rowsRead;
    return result;
  } catch (err) {
    await recordRunFailure(deps, deps.dryRun ? undefined : deps.ledger, runId, started, err, err instanceof RunCancelledError ? "interrupted" : "failed");
    throw err;
  } finally {
    if (locked) await ledger?.runs.releaseLock(runId, rowsRead).catch(() => undefined);
  }
}

/**
 * A measured run's read (source.extract auto, docs/scaling.md): the state machine took the lock, ran the query and
 * found its result small enough for the Data API; this reads that statement's result as a Data API run reads its
 * own, then releases the lock. A failure is the state machine's to record (its Fail run step).
 */
export async function readMeasuredResult(deps: ExtractorDeps, event: { runId: string; startedAt: number; statementId: string; approveMirror?: boolean }): Promise<ExtractorResult> {
  if (!deps.ledger) throw new Error("a measured run needs the ledger (it holds the run's lock)");
  // Still this run's (taken back if it expired: a redrive of an execution that timed out), before anything is sent.
  await holdRunLock(deps.ledger, event.runId);
  const result = await extractPages({ ...deps, source: warehouse(deps).ofStatement(event.statementId) }, event.runId, event.startedAt, { approveMirror: event.approveMirror });
  await deps.ledger.runs.releaseLock(event.runId, result.rowsRead);
  return result;
}

/** A measured run's query, executed by the extractor (its owner, the only one who may describe and read it). */
export async function executeMeasuredQuery(deps: Pick<ExtractorDeps, "source" | "logger">, event: { runId: string }): Promise<{ Id: string }> {
  const id = await warehouse(deps).execute();
  deps.logger.info("measured query executed", { runId: event.runId, statementId: id });
  return { Id: id };
}

/** One poll of a measured run's query (the state machine waits between polls). */
export function describeMeasuredQuery(deps: Pick<ExtractorDeps, "source">, event: { statementId: string }): Promise<StatementState> {
  return warehouse(deps).describe(event.statementId);
}

function warehouse(deps: Pick<ExtractorDeps, "source">): RedshiftSource {
  if (!(deps.source instanceof RedshiftSource)) throw new Error("a measured run reads a Redshift statement, but this extractor's source is not the Data API");
  return deps.source;
}

async function extractPages(deps: ExtractorDeps, runId: string, started: number, event: ExtractorEvent, lastRowsRead?: number): Promise<ExtractorResult> {
  const { config, logger, metrics } = deps;
  const write = !deps.dryRun;
  logger.appendKeys({ runId });
  if (write && (!deps.sqs || !deps.queueUrl)) throw new Error("the extractor needs an SQS client and a queue URL");
  const accounting = new RunAccounting();
  const sender = new QueueSender(deps.sqs!, deps.queueUrl ?? "");
  const buffer = new OperationBuffer(config, runId, accounting, deps.dryRun ? { dryRun: deps.dryRun.onOperation } : { sender }, deps.flushIntervalMs);
  // Mirror mode: every key a row carries, recorded before the row is validated (see core/mirror.ts).
  const presence = config.mirror.enabled && deps.ledger ? new RunPresence() : undefined;
  const pages = new PageFlow({ config, logger, ledger: deps.ledger?.users, onOutcome: deps.onOutcome }, runId, accounting, presence);
  const importSender = deps.importQueueUrl && deps.sqs ? new QueueSender(deps.sqs, deps.importQueueUrl) : undefined;
  const imports = deps.ledger ? ImportRouter.for(config, runId, accounting, deps.dryRun?.onImportBatch ? { dryRun: deps.dryRun.onImportBatch } : importSender && !deps.dryRun ? { sender: importSender } : undefined) : undefined;
  // Handed on: to the main queue, or to the import queue (docs/imports.md).
  const enqueued = () => buffer.enqueued + (imports?.users ?? 0);
  const route = async (ops: SyncOperation[]) => (imports ? imports.route(ops, (op) => pages.firstSeen.has(op), deps.source.resultRows === undefined ? undefined : deps.source.resultRows - accounting.rowsRead) : ops);
  const mode = deps.unchangedCheck ?? "auto";

  // With the last run's row count as the estimate of this one's, the ledger is read while the warehouse runs the
  // statement; without one (the first run, a dry run) once the statement's row count is known.
  const early = deps.ledger && lastRowsRead !== undefined ? loadAppliedFingerprints(deps.ledger.users, runId, mode, lastRowsRead, logger) : undefined;
  early?.catch(() => undefined); // awaited at the first page; a failed statement must not leave it unhandled
  if (deps.ledger && write) await deps.ledger.runs.put({ runId, status: "running", startedAt: new Date(started).toISOString() });
  const source = deps.source;
  let first = true;
  let lastProgressWrite = Date.now();
  let unmapped: string[] = [];
  for await (const page of source.pages()) {
    if (first) {
      first = false;
      // Before any row: a column the config names and the statement does not return (or one returned twice) fails
      // the run (nothing sent). (An empty result without column metadata has nothing to check.)
      const problem = page.columns.length > 0 || page.rows.length > 0 ? columnsProblem(config, page.columns) : undefined;
      if (problem) throw new ColumnsError(problem);
      unmapped = unmappedColumns(config, page.columns);
      if (deps.ledger) pages.applied = await (early ?? loadAppliedFingerprints(deps.ledger.users, runId, mode, source.resultRows ?? 0, logger));
    }
    buffer.push(await route(await pages.rows(page.rows)));
    if (deps.signal?.aborted) {
      // What this page produced is still sent (those rows are accounted for); the rest is never read.
      if (imports) buffer.push(await imports.finish());
      await buffer.flush();
      throw new RunCancelledError(runId, accounting.rowsRead);
    }
    await buffer.sendDue();
    deps.onProgress?.({ rowsRead: accounting.rowsRead, enqueued: enqueued() + buffer.waiting, rejected: accounting.count("rejected"), totalRows: source.resultRows });
    // What the extract has done so far, on its run item: if the extractor stops (a timeout), the run is marked
    // interrupted with it, and `status` can tell which users were sent.
    if (deps.ledger && write && Date.now() - lastProgressWrite >= PROGRESS_WRITE_MS) {
      lastProgressWrite = Date.now();
      await deps.ledger.runs.put({
        runId,
        status: "running",
        startedAt: new Date(started).toISOString(),
        summary: { rowsRead: accounting.rowsRead, unchanged: pages.unchanged, rejected: accounting.count("rejected"), enqueued: enqueued(), partial: true },
      });
    }
  }
  if (imports) buffer.push(await imports.finish());
  await buffer.flush();

  // Mirror mode, only after a complete extract (an exception above never gets here).
  let mirror: MirrorPlan | undefined;
  if (presence && deps.ledger) mirror = await runMirror(deps, deps.ledger.users, presence, { buffer, accounting }, event.approveMirror === true);

  const snap = accounting.snapshot();
  emitMetric(metrics, "RowsRead", snap.rowsRead);
  emitMetric(metrics, "RowsRejected", snap.rejected);
  emitMetric(metrics, "RowsEnqueued", enqueued());
  emitMetric(metrics, "SqsRequests", sender.stats.requests + (importSender?.stats.requests ?? 0));
  const result: ExtractorResult = {
    runId,
    rowsRead: snap.rowsRead,
    rejected: snap.rejected,
    unchanged: pages.unchanged,
    enqueued: enqueued(),
    mirror: mirror && { absent: mirror.absent, block: mirror.block, delete: mirror.delete, held: mirror.held, heldReason: mirror.heldReason, managed: mirror.managed },
    messages: sender.stats.messages + (importSender?.stats.messages ?? 0),
    sqsRequests: sender.stats.requests + (importSender?.stats.requests ?? 0),
    ...(imports && imports.users > 0 ? { imports: { batches: imports.batches, users: imports.users } } : {}),
    rejectReasons: snap.rejectReasons,
    sampleRejections: pages.samples,
    unmappedColumns: unmapped,
    elapsedMs: Date.now() - started,
    ...(snap.settledEarlier ? { settledEarlier: snap.settledEarlier } : {}),
  };
  if (snap.unaccounted !== 0) {
    logger.error("extract accounting does not add up", { rowsRead: snap.rowsRead, rejected: snap.rejected, enqueued: enqueued(), unaccounted: snap.unaccounted });
    throw new Error(`extract accounting does not add up: ${snap.unaccounted} rows unaccounted`);
  }
  logger.info("extract finished", { ...result, sampleRejections: undefined });
  if (deps.ledger && write) {
    await deps.ledger.runs.put({
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
export function runSummary({ sampleRejections: _samples, skipped: _skipped, runId: _runId, ...figures }: ExtractorResult): RunSummary {
  return figures;
}
