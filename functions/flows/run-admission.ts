/**
 * Whether a run starts, and how one that fails is recorded: shared by the extractor's run (extract-run.ts) and a run
 * over an unloaded table (unload-run.ts). One extract at a time (the ledger's run lock, for at most `lockMs`), and
 * no new run while the previous one still drains (messages in the queue): the schedule's next tick picks the work
 * up. A run that does not start is recorded skipped with its reason; one whose holder's lock expired is recorded
 * interrupted with its progress.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { SyncError } from "../core/errors.js";
import { UNLOAD_RUN_TIMEOUT_SECONDS } from "../core/extract-config.js";
import { interruptedReason, type ExtractorResult } from "../core/runs.js";
import type { Ledger } from "../adapters/ledger/ledger.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { queueDepth } from "../adapters/sqs/redrive.js";

export interface AdmissionDeps {
  logger: Logger;
  metrics: Metrics;
  sqs?: SQSClient;
  queueUrl?: string;
  /** The import queue (docs/imports.md): a run whose import jobs still run is still draining too. */
  importQueueUrl?: string;
  /** The writes queue (core/created-writes.ts): created users whose roles are still to write are still draining. */
  writesQueueUrl?: string;
}

export type Admission = { locked: boolean; lastRowsRead?: number } | { locked: boolean; skipped: ExtractorResult };

/** Takes the run lock and checks the queue; `locked` says whether the caller must release the lock. */
export async function admitRun(deps: AdmissionDeps, ledger: Ledger, runId: string, started: number, lockMs: number): Promise<Admission> {
  const lock = await ledger.runs.acquireLock(runId, lockMs);
  if (!lock.ok) return { locked: false, skipped: await skip(deps, ledger, runId, started, `another extract (${lock.heldBy}) is running`) };
  try {
    if (lock.expiredHolder) await markInterrupted(deps, ledger, lock.expiredHolder);
    const draining = await stillDraining(deps);
    if (draining) return { locked: true, skipped: await skip(deps, ledger, runId, started, draining) };
    return { locked: true, lastRowsRead: lock.lastRowsRead };
  } catch (err) {
    // Taken, then a check failed: released here, so a failure never holds it and skips the runs after it.
    await ledger.runs.releaseLock(runId).catch(() => undefined);
    throw err;
  }
}

/** A run that failed (or was stopped): logged, counted, and recorded so `status` and the next run see it end. */
export async function recordRunFailure(deps: AdmissionDeps, ledger: Ledger | undefined, runId: string, started: number, err: unknown, status: "failed" | "interrupted"): Promise<void> {
  const error = err instanceof Error ? err.message : String(err);
  deps.logger.error(`run ${status}`, { runId, error });
  // Also what the dashboard counts (and the run's one metric: the middleware has something to publish).
  emitMetric(deps.metrics, status === "interrupted" ? "RunsInterrupted" : "RunsFailed", 1);
  // Mirror mode never acted: it acts only after a complete extract.
  await ledger?.runs.put({ runId, status, startedAt: new Date(started).toISOString(), finishedAt: new Date().toISOString(), error: error.slice(0, 1000) }).catch(() => undefined);
}

/** The run whose expired lock this run took: it stopped before the end, and is recorded so, with its progress. */
async function markInterrupted(deps: AdmissionDeps, ledger: Ledger, runId: string): Promise<void> {
  const run = await ledger.runs.get(runId);
  if (run?.status !== "running") return;
  const reason = interruptedReason(run.summary);
  if (await ledger.runs.markInterrupted(runId, reason)) deps.logger.warn("earlier run interrupted", { interruptedRunId: runId, reason });
}

/** A run that does not start (see `runExtract`): recorded as skipped with its reason; every figure is 0. */
async function skip(deps: AdmissionDeps, ledger: Ledger, runId: string, started: number, reason: string): Promise<ExtractorResult> {
  deps.logger.warn("run skipped", { runId, reason });
  emitMetric(deps.metrics, "RunsSkipped", 1);
  const at = new Date(started).toISOString();
  await ledger.runs.put({ runId, status: "skipped", startedAt: at, finishedAt: at, skippedReason: reason });
  return { runId, skipped: reason, rowsRead: 0, rejected: 0, unchanged: 0, enqueued: 0, messages: 0, sqsRequests: 0, rejectReasons: {}, sampleRejections: [], elapsedMs: Date.now() - started };
}

/**
 * Overlapping runs: one extract at a time (the ledger's run lock, for at most the extractor's timeout), and no
 * new run while the previous one still drains (messages in the queue): the schedule's next tick picks the work
 * up. Returns why the run is skipped, if it is.
 */
async function stillDraining(deps: AdmissionDeps): Promise<string | undefined> {
  if (!deps.sqs || !deps.queueUrl) return undefined;
  const q = await queueDepth(deps.sqs, deps.queueUrl);
  if (q.visible + q.inFlight > 0) return `the previous run is still draining: ${q.visible + q.inFlight} messages in the queue`;
  if (deps.importQueueUrl) {
    const i = await queueDepth(deps.sqs, deps.importQueueUrl);
    if (i.visible + i.inFlight > 0) return `the previous run is still importing: ${i.visible + i.inFlight} import batches in the import queue`;
  }
  if (!deps.writesQueueUrl) return undefined;
  const w = await queueDepth(deps.sqs, deps.writesQueueUrl);
  return w.visible + w.inFlight > 0 ? `the previous run is still draining: ${w.visible + w.inFlight} created users' roles and memberships in the writes queue` : undefined;
}

/** A run that cannot go on now (a redrive, a step run again after a timeout): refused in one sentence. */
export class ResumeRefusedError extends SyncError {
  override readonly name = "ResumeRefused";
  readonly retryable = false;
}

/**
 * The run lock for a run that goes on (a redriven run, a measured read, the finish of a run over an unloaded table):
 * taken back when free or expired, kept when it is this run's; refused while another run holds it.
 */
export async function holdRunLock(ledger: Ledger, runId: string): Promise<void> {
  const lock = await ledger.runs.acquireLock(runId, UNLOAD_RUN_TIMEOUT_SECONDS * 1000);
  if (!lock.ok) throw new ResumeRefusedError(`run ${runId} cannot go on while run ${lock.heldBy} holds the run lock: redrive it again once that run has ended`);
}
