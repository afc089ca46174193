/**
 * A run over an unloaded table, the steps the state machine's Tasks run in the extractor (docs/scaling.md): `start`
 * takes the run lock and writes the UNLOAD statement (the state machine runs it and waits for it itself, through
 * the Data API's SDK integrations); `plan` turns UNLOAD's manifest into the segments the Distributed Map runs
 * (segment-run.ts); `finish` sums the segments, decides mirror mode over the whole run from the keys every segment
 * saw, records the run and releases the lock; `fail` records a run that did not finish (no deletes, ever).
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { SyncConfig } from "../core/config.js";
import { SyncError } from "../core/errors.js";
import { UNLOAD_RUN_TIMEOUT_SECONDS, extractPath } from "../core/extract-config.js";
import type { MirrorPlan } from "../core/mirror.js";
import { RunAccounting } from "../core/outcomes.js";
import { newRunId } from "../core/runs.js";
import { HashedPresence, bytesToHashes, segmentsFromManifest, sumSegments, type Segment } from "../core/segments.js";
import { UNLOAD_STATES, isRedriveOf, resumeAt, type FailedRunState, type ResumableState } from "../core/unload-resume.js";
import { manifestKey, unloadLocation, unloadStatement } from "../core/unload-statement.js";
import type { Ledger } from "../adapters/ledger/ledger.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { QueueSender } from "../adapters/sqs/sender.js";
import { runSummary, type ExtractorResult } from "./extract-run.js";
import { runMirror } from "./mirror-run.js";
import { OperationBuffer } from "./operation-buffer.js";
import { ResumeRefusedError, admitRun, holdRunLock, recordRunFailure, type AdmissionDeps } from "./run-admission.js";
import { runAfter } from "./run-status.js";
import { segmentKeysKey } from "./segment-run.js";

export interface UnloadRunDeps extends AdmissionDeps {
  config: SyncConfig;
  ledger: Ledger;
  s3: S3Client;
  sqs: SQSClient;
  queueUrl: string;
  /** The bucket UNLOAD writes to: source.unload.bucket, or the stack's. */
  bucket: string;
  flushIntervalMs?: number;
}

/**
 * What `start` hands the state machine: the UNLOAD statement and where its files go (and, for a measured run, the
 * query it runs first), or why the run is skipped.
 */
export type UnloadStart =
  | { runId: string; startedAt: number; skipped: string }
  | { runId: string; startedAt: number; statement: string; bucket: string; prefix: string; approveMirror: boolean; measure: boolean };

/** What the Fail run step hands a redriven execution: the state it resumes at. */
export interface UnloadResume {
  at: ResumableState;
}

/** The run's own failure, raised by the Fail run step so the execution fails there (and a redrive reruns it). */
export class RunFailedError extends SyncError {
  override readonly name = "RunFailed";
  readonly retryable = false;
}


/** What `plan` hands the Distributed Map: the segments (an S3 object of Map items) and their number. */
export interface UnloadPlan {
  segments: number;
  rows: number;
  itemsKey: string;
}

export type UnloadResult = ExtractorResult & { segments: { done: number; total: number } };

function unloadOf(config: SyncConfig) {
  if (config.source.type !== "redshift" || !config.source.unload) throw new Error("this run unloads, but the config has no source.unload");
  return { source: config.source, unload: config.source.unload };
}

export async function startUnloadRun(deps: UnloadRunDeps, event: { runId?: string; input?: { approveMirror?: unknown } } = {}): Promise<UnloadStart> {
  const runId = event.runId ?? newRunId();
  const startedAt = Date.now();
  const admission = await admitRun(deps, deps.ledger, runId, startedAt, UNLOAD_RUN_TIMEOUT_SECONDS * 1000);
  try {
    if ("skipped" in admission) {
      if (admission.locked) await deps.ledger.runs.releaseLock(runId);
      return { runId, startedAt, skipped: admission.skipped.skipped ?? "skipped" };
    }
    const { source, unload } = unloadOf(deps.config);
    const location = unloadLocation(unload, deps.bucket, deps.config.name, runId);
    const statement = unloadStatement(source, unload, location.url);
    const measure = extractPath(source) === "measured";
    await deps.ledger.runs.put({ runId, status: "running", startedAt: new Date(startedAt).toISOString() });
    deps.logger.info("unload run started", { runId, location: location.url, measure });
    return { runId, startedAt, statement, bucket: location.bucket, prefix: location.prefix, approveMirror: event.input?.approveMirror === true, measure };
  } catch (err) {
    // Taken, then the statement could not be written: recorded failed and released here (no Fail run step yet).
    await recordRunFailure(deps, deps.ledger, runId, startedAt, err, "failed");
    await deps.ledger.runs.releaseLock(runId).catch(() => undefined);
    throw err;
  }
}

const itemsKeyOf = (prefix: string) => `${prefix}segments.json`;

async function readJson(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await out.Body!.transformToString()) as unknown;
}

/** The manifest's files as the Map's items, written beside them (an ItemReader reads them: no payload limit). */
export async function planSegments(deps: Pick<UnloadRunDeps, "s3" | "logger" | "ledger">, event: { runId: string; bucket: string; prefix: string }): Promise<UnloadPlan> {
  const segments = segmentsFromManifest(await readJson(deps.s3, event.bucket, manifestKey(event.prefix)), event.bucket);
  const items = segments.map((segment) => ({ runId: event.runId, segment }));
  const itemsKey = itemsKeyOf(event.prefix);
  await deps.s3.send(new PutObjectCommand({ Bucket: event.bucket, Key: itemsKey, Body: JSON.stringify(items), ContentType: "application/json" }));
  const rows = segments.reduce((n, s) => n + s.rows, 0);
  await deps.ledger.runs.setSegmentsTotal(event.runId, segments.length);
  deps.logger.info("unload planned", { runId: event.runId, segments: segments.length, rows });
  return { segments: segments.length, rows, itemsKey };
}

/** After the Map: the run's figures, mirror mode over the whole run, the run's record, the lock released. */
export async function finishUnloadRun(deps: UnloadRunDeps, event: { runId: string; startedAt: number; bucket: string; prefix: string; approveMirror?: boolean }): Promise<UnloadResult> {
  const { config, logger, metrics, ledger } = deps;
  const { runId } = event;
  const items = (await readJson(deps.s3, event.bucket, itemsKeyOf(event.prefix))) as { segment: Segment }[];
  const segments = items.map((i) => i.segment);
  const sum = sumSegments(segments, await ledger.segments.finished(runId, segments.length));
  // Never reached after a failed map (the state machine fails first), but never trusted either: no deletes.
  if (sum.incomplete) throw new Error(`the run is incomplete: ${sum.incomplete}`);
  // The lock, still this run's (or taken back: a redriven execution that had timed out), before mirror mode acts.
  await holdRunLock(ledger, runId);

  const accounting = new RunAccounting();
  const sender = new QueueSender(deps.sqs, deps.queueUrl);
  const buffer = new OperationBuffer(config, runId, accounting, { sender }, deps.flushIntervalMs);
  let mirror: MirrorPlan | undefined;
  if (config.mirror.enabled) {
    const hashes = [];
    for (const s of segments) {
      const out = await deps.s3.send(new GetObjectCommand({ Bucket: s.bucket, Key: segmentKeysKey(s) }));
      hashes.push(bytesToHashes(await out.Body!.transformToByteArray()));
    }
    mirror = await runMirror(deps, ledger.users, new HashedPresence(hashes, sum.unkeyed, sum.firstUnkeyedRow), { buffer, accounting }, event.approveMirror === true);
  }
  const result: UnloadResult = {
    runId,
    rowsRead: sum.rowsRead,
    rejected: sum.rejected,
    unchanged: sum.unchanged,
    enqueued: sum.enqueued + buffer.enqueued,
    mirror: mirror && { absent: mirror.absent, block: mirror.block, delete: mirror.delete, held: mirror.held, heldReason: mirror.heldReason, managed: mirror.managed },
    messages: sum.messages + sender.stats.messages,
    sqsRequests: sum.sqsRequests + sender.stats.requests,
    rejectReasons: sum.rejectReasons,
    sampleRejections: [],
    elapsedMs: Date.now() - event.startedAt,
    segments: { done: sum.segmentsDone, total: sum.segments },
    ...(sum.settledEarlier ? { settledEarlier: sum.settledEarlier } : {}),
  };
  emitMetric(metrics, "RowsRead", result.rowsRead);
  emitMetric(metrics, "RowsRejected", result.rejected);
  emitMetric(metrics, "RowsEnqueued", result.enqueued);
  emitMetric(metrics, "SqsRequests", result.sqsRequests);
  logger.info("extract finished", { ...result, sampleRejections: undefined });
  await ledger.runs.put({
    runId,
    status: mirror?.held ? "held" : "completed",
    startedAt: new Date(event.startedAt).toISOString(),
    finishedAt: new Date().toISOString(),
    summary: runSummary(result),
    heldReason: mirror?.heldReason,
  });
  await ledger.runs.releaseLock(runId, result.rowsRead);
  // Last, as the extractor's: the no-successful-run alarm watches it.
  emitMetric(metrics, "RunsSucceeded", 1);
  return result;
}

/**
 * The Fail run step. Reached from a failed state (the statement, a segment after its retries, the finish itself):
 * the run recorded failed, the lock released, and the step fails (RunFailedError), so the execution fails here
 * with the run's error. Rerun by a redrive (RedriveExecution: the execution's RedriveCount is above the attempt
 * the failure was caught in): the run resumes (`resumeRun`).
 */
export async function failUnloadRun(
  deps: Pick<UnloadRunDeps, "ledger" | "logger" | "metrics" | "s3">,
  event: { runId: string; startedAt: number; error: string | { Error?: string; Cause?: string }; redriveCount?: number; state?: FailedRunState & { start?: { bucket?: string; prefix?: string } } },
): Promise<UnloadResume> {
  const state = event.state ?? {};
  if (isRedriveOf(event.redriveCount, state)) return resumeRun(deps, event, state);
  const error = typeof event.error === "string" ? event.error : causeOf(event.error);
  await recordRunFailure(deps, deps.ledger, event.runId, event.startedAt, new Error(error), "failed");
  await deps.ledger.runs.releaseLock(event.runId).catch(() => undefined);
  throw new RunFailedError(error);
}

/**
 * A redriven run going on: refused while a later run has done work (it would send older rows over that run's and
 * decide mirror mode over an older table), when the unloaded files it needs have expired, or while another run holds
 * the lock; the refusal is recorded on the run, so whoever follows it sees the redrive end. Otherwise the lock taken
 * back, the run reopened (running, its error removed), and the state it resumes at.
 */
async function resumeRun(
  deps: Pick<UnloadRunDeps, "ledger" | "logger" | "s3">,
  event: { runId: string; startedAt: number; redriveCount?: number },
  state: FailedRunState & { start?: { bucket?: string; prefix?: string } },
): Promise<UnloadResume> {
  const { runId } = event;
  const startedAt = new Date(event.startedAt).toISOString();
  const at = resumeAt(state);
  try {
    const later = await runAfter(deps.ledger, runId, startedAt);
    if (later) throw new ResumeRefusedError(`run ${runId} is not resumed: run ${later} started after it and did work; a redrive would send older rows over it. Start a new run instead`);
    if ((at === UNLOAD_STATES.plan || at === UNLOAD_STATES.segments) && !(await manifestKept(deps.s3, state.start))) {
      throw new ResumeRefusedError(`run ${runId} is not resumed: its unloaded files have expired (the bucket keeps them a day). Start a new run instead`);
    }
    await holdRunLock(deps.ledger, runId);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    await deps.ledger.runs.put({ runId, status: "failed", startedAt, finishedAt: new Date().toISOString(), error: error.slice(0, 1000) }).catch(() => undefined);
    throw err;
  }
  await deps.ledger.runs.reopen(runId);
  deps.logger.info("run resumed by a redrive", { runId, at, redriveCount: event.redriveCount });
  return { at };
}

/** Whether the run's UNLOAD manifest is still in the bucket (the lifecycle rule deletes the files after a day). */
async function manifestKept(s3: S3Client, start: { bucket?: string; prefix?: string } | undefined): Promise<boolean> {
  if (!start?.bucket || start.prefix === undefined) return false;
  try {
    await s3.send(new HeadObjectCommand({ Bucket: start.bucket, Key: manifestKey(start.prefix) }));
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === "NotFound" || (err as { name?: string }).name === "NoSuchKey") return false;
    throw err;
  }
}

/**
 * A state's error as one sentence: Step Functions gives {Error, Cause}, and a Lambda's Cause is its error as JSON
 * ({errorType, errorMessage, ...}): the message is what the operator needs.
 */
export function causeOf(e: { Error?: string; Cause?: string }): string {
  try {
    const parsed = JSON.parse(e.Cause ?? "") as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === "string") return parsed.errorMessage;
  } catch {
    // not JSON: the cause as written
  }
  return e.Cause ?? e.Error ?? "unknown error";
}
