/**
 * One sync on one machine: starts the local stand-ins, invokes the real extractor handler, consumes its messages
 * through the local SQS event source while the extract goes on, and sums the outcomes up as the CLI reports them.
 */
import { opKey, parseMessage } from "../../functions/adapters/sqs/message.js";
import { consumerBudget } from "../../functions/core/budget.js";
import { OUTCOMES, RunAccounting, type OutcomeEvent, type Outcome } from "../../functions/core/outcomes.js";
import type { RunReport } from "../../functions/core/runs.js";
import { rejectionMessage, type RejectCode } from "../../functions/core/types.js";
import { createExtractorHandler, createUnloadStepHandler, type ExtractorDepsFactory } from "../../functions/flows/extractor-lambda.js";
import { createSegmentHandler } from "../../functions/flows/segment-lambda.js";
import { newRunId, recordUnaccounted, settledOutcomes } from "../../functions/core/runs.js";
import { runAfter } from "../../functions/flows/run-status.js";
import { unloads } from "../../functions/core/extract-config.js";
import { failedLocalExecution, runLocalUnload } from "./unload-run.js";
import { LocalStateError } from "../state-dir.js";
import { RunCancelledError, type ExtractorResult } from "../../functions/flows/extract-run.js";
import { LocalEnvironment, type LocalEnvironmentOptions } from "./environment.js";
import { fakeContext } from "./lambda-context.js";

export interface LocalRunOptions extends LocalEnvironmentOptions {
  onProgress?: (p: Progress) => void;
  /** Extra hook: every recorded outcome. */
  onOutcome?: (e: OutcomeEvent) => void;
  /** Approve a mirror run over the threshold (as the CLI's approval does). */
  approveMirror?: boolean;
  /** Called once the stand-ins run, before the extract starts (the bench reads the emulator's request log through it). */
  onEnvironment?: (env: LocalEnvironment) => void | Promise<void>;
  /** Ctrl-C: the extract stops after its current page and the consumers take no new message; the state stays whole. */
  signal?: AbortSignal;
  /** How the extractor finds unchanged rows (see `chooseUnchangedCheck`); dynalite's ItemCount of 0 always picks the Scan. */
  unchangedCheck?: "auto" | "scan" | "lookup";
  /**
   * Redrive a failed execution of a run over an unloaded table (as Step Functions' RedriveExecution does): the run
   * with this id, or `true` for the latest failed one. It resumes where it failed and completes that run.
   */
  redrive?: string | true;
  /**
   * Runs each segment worker (one item of the Map) instead of the in-process handler, with the Map's retries as
   * they are: the bench runs each in a child process, and SIGKILLs one.
   */
  segmentWorker?: (event: unknown, env: LocalEnvironment) => Promise<unknown>;
  /**
   * Run in stand-ins already running (a local watch's: the run's writes reach its tenant log, as a scheduled run's
   * reach a deployed watch), which the run then leaves running. Its consumers may share the queue with theirs.
   */
  environment?: LocalEnvironment;
}

export interface Progress {
  phase: "extract" | "consume" | "done";
  rowsRead: number;
  done: number;
  total: number;
  elapsedMs: number;
}

export interface LocalRunSummary {
  runId: string;
  rowsRead: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  deadLettered: number;
  blocked: number;
  deleted: number;
  /** The run did not start, and why (another extract running, or the previous run still draining). */
  skipped?: string;
  /**
   * Stopped on purpose (`signal`): no new work was taken, what was under way finished; the users without an outcome
   * (`unaccounted`) were not applied and go with the next run.
   */
  cancelled: boolean;
  /** Mirror mode held the run: absent managed users over the threshold, nothing blocked or deleted. */
  held: boolean;
  heldReason?: string;
  unaccounted: number;
  auth0Calls: number;
  auth0Status429: number;
  /** From the start of the local stand-ins (warehouse, ledger and tenant loaded) to their state saved. */
  elapsedMs: number;
  /** The sync itself: from the extractor's start to the last user's outcome (what a run takes in AWS). */
  syncMs: number;
  topReasons: { code: RejectCode; count: number }[];
  /** Every rejection, with the row, key and field it names. */
  rejections: string[];
  sqsRequests: number;
  consumerInstances: number;
  /** A run over an unloaded table: its segments finished / in all. */
  segments?: { done: number; total: number };
  /** New users through Auth0 import jobs (docs/imports.md): the jobs submitted and the users they created. */
  importJobs: number;
  importedUsers: number;
}

/** Why a local run stopped on purpose (Ctrl-C) is interrupted: what it did, what goes with the next run. */
export const cancelledReason = (notApplied: number): string =>
  `cancelled (Ctrl-C): what was under way finished; ${notApplied.toLocaleString("en-US")} ${notApplied === 1 ? "user was" : "users were"} not applied and go${notApplied === 1 ? "es" : ""} with the next run`;

/** A local run as the operator is told it (`npm start`, `auth0-sync run --local`): the one RunReport shape. */
export function reportOfLocalRun(s: LocalRunSummary): RunReport {
  return {
    runId: s.runId,
    status: s.cancelled ? "interrupted" : s.skipped ? "skipped" : s.held ? "held" : "completed",
    rowsRead: s.rowsRead,
    ...Object.fromEntries(OUTCOMES.map((o) => [o, s[o]])) as Record<Outcome, number>,
    unaccounted: s.unaccounted,
    heldReason: s.heldReason,
    skippedReason: s.skipped,
    error: s.cancelled ? cancelledReason(s.unaccounted) : undefined,
    auth0Calls: s.auth0Calls,
    auth0Status429: s.auth0Status429,
    elapsedMs: s.elapsedMs,
    topReasons: s.topReasons,
    rejections: s.rejections,
    segments: s.segments,
    importJobs: s.importJobs,
    importedUsers: s.importedUsers,
  };
}

/** Runs one sync locally and returns its summary. */
export async function runLocalPipeline(opts: LocalRunOptions): Promise<LocalRunSummary> {
  const started = Date.now();
  const env = opts.environment ?? (await LocalEnvironment.start(opts));
  try {
    await opts.onEnvironment?.(env);
    const config = env.config;
    // The first final outcome of each key wins (a redelivered user is not counted twice).
    const outcomes = new Map<string, OutcomeEvent>();
    const record = (e: OutcomeEvent) => {
      if (!outcomes.has(e.key)) {
        outcomes.set(e.key, e);
        opts.onOutcome?.(e);
      }
    };

    let rowsRead = 0;
    // The statement's row count once the warehouse knows it: outcomes are counted against it, never above it.
    let totalRows: number | undefined;
    const progress = (phase: Progress["phase"], done: number, total: number) =>
      opts.onProgress?.({ phase, rowsRead, done, total: Math.max(total, done), elapsedMs: Date.now() - started });
    const extractorDeps: ExtractorDepsFactory = async ({ logger, metrics }) => ({
      config,
      source: await env.rowSource("extractor"),
      sqs: opts.chaos?.extractorSqs?.(env.handlerSqs("extractor")) ?? env.handlerSqs("extractor"),
      queueUrl: env.queueUrl,
      importQueueUrl: env.importQueueUrl,
      writesQueueUrl: env.writesQueueUrl,
      logger,
      metrics,
      ledger: env.ledgerFor?.("extractor"),
      unchangedCheck: opts.unchangedCheck,
      signal: opts.signal,
      onOutcome: record,
      onProgress: (p) => {
        rowsRead = p.rowsRead;
        totalRows = p.totalRows;
        progress("extract", outcomes.size, totalRows ?? p.rowsRead);
      },
      unload: env.s3 ? { s3: env.handlerS3("extractor"), bucket: env.unloadBucket! } : undefined,
    });
    const extractor = createExtractorHandler(extractorDeps);
    // Consumed as Lambda's SQS event source would: from the first message on, while the extract goes on.
    let extracted: ExtractorResult | undefined;
    const syncStarted = Date.now();
    if (opts.redrive !== undefined && !unloads(config.source)) throw new LocalStateError("Only a run over an unloaded table (an execution of the unload state machine) is redriven; this config reads through the Data API.");
    const redrive = opts.redrive === undefined ? undefined : failedLocalExecution(env, opts.redrive === true ? undefined : opts.redrive);
    if (opts.redrive !== undefined && !redrive) {
      throw new LocalStateError(opts.redrive === true ? "There is no failed execution to redrive: every run over an unloaded table here ended or was redriven." : `There is no failed execution of run ${opts.redrive} to redrive (it completed, was redriven, or never unloaded).`);
    }
    if (redrive) {
      const failedRun = await env.ledgerFor!().runs.get(redrive.runId);
      const later = failedRun && (await runAfter(env.ledgerFor!(), redrive.runId, failedRun.startedAt));
      if (later) throw new LocalStateError(`Run ${redrive.runId} is not redriven: run ${later} started after it and did work, and a redrive would send older rows over it. Start a new run instead.`);
    }
    const unloadRunId = redrive?.runId ?? newRunId();
    const extractRun = unloads(config.source)
      ? runLocalUnload(
          env,
          {
            step: createUnloadStepHandler(extractorDeps),
            segment: opts.segmentWorker ? (event: never) => opts.segmentWorker!(event, env) : createSegmentHandler(({ logger, metrics }) => ({
              config,
              s3: env.handlerS3("segment"),
              sqs: opts.chaos?.segmentSqs?.(env.handlerSqs("segment")) ?? env.handlerSqs("segment"),
              queueUrl: env.queueUrl,
              importQueueUrl: env.importQueueUrl,
              ledger: env.ledgerFor!("segment"),
              logger,
              metrics,
              onOutcome: record,
              unchangedCheck: opts.unchangedCheck,
            })),
            context: (fn) => fakeContext(15 * 60_000, fn),
          },
          { runId: unloadRunId, approveMirror: opts.approveMirror, redrive },
        ).catch(async (err: unknown) => {
          throw await unloadFailure(env, err, unloadRunId);
        })
      : extractor({ approveMirror: opts.approveMirror }, fakeContext(15 * 60_000, "extractor"));
    const extracting = extractRun.then((r) => {
      extracted = r;
      rowsRead = r.rowsRead;
      env.redshiftEmulator?.forget();
    });
    // Import batches (docs/imports.md) beside the main queue: users an import hands on reach the main queue, so
    // the main queue is drained only once the imports are.
    const importing = env.drainImports({ onOutcome: record, until: extracting, signal: opts.signal, faults: opts.chaos?.importer });
    const consuming = env.drain({
      onOutcome: record,
      onPoll: () => progress(extracted ? "consume" : "extract", outcomes.size, extracted ? rowsRead + (extracted.mirror?.held ? 0 : (extracted.mirror?.absent ?? 0)) : (totalRows ?? rowsRead)),
      until: Promise.allSettled([extracting, importing]),
      signal: opts.signal,
    });
    const adapters = [...(await consuming), ...(await importing)];
    // A failed extract: what it enqueued was consumed above; the tenant and the DLQ are kept; the run fails. A
    // cancelled one (Ctrl-C) ends like an interrupted run: what was applied is kept, the rest goes with the next.
    let cancelled: RunCancelledError | undefined;
    await extracting.catch(async (err: unknown) => {
      if (err instanceof RunCancelledError) {
        cancelled = err;
        return;
      }
      await env.save();
      throw err;
    });
    if (!extracted && !cancelled) throw new Error("the extract did not finish");
    const runId = extracted?.runId ?? cancelled!.runId;
    if (cancelled) rowsRead = cancelled.rowsRead;

    // What of this run ended in the DLQ (it stays there for redrive).
    for (const m of await env.peekDlq()) {
      const parsed = parseMessage(m.body);
      if (!parsed.ok || parsed.message.runId !== runId) continue;
      for (const op of parsed.message.ops) if (!outcomes.has(opKey(op))) record({ runId, key: opKey(op), outcome: "deadLettered" });
    }

    const syncMs = Date.now() - syncStarted;

    const acc = new RunAccounting();
    acc.read(rowsRead);
    if (extracted?.mirror && !extracted.mirror.held) acc.addAbsent(extracted.mirror.absent);
    for (const e of outcomes.values()) acc.record(e.outcome, { code: e.rejection?.code });
    // A redriven run settled users in the failed attempt too (another process here), and segment workers run
    // elsewhere report no outcome here: the figures are then the run's record's, which every attempt's consumers
    // and segments added to.
    const whole = redrive !== undefined || opts.segmentWorker !== undefined;
    const runRecord = await env.ledgerFor?.().runs.get(runId);
    const inProcess = acc.snapshot();
    let snap = inProcess;
    if (runRecord && whole) {
      // (The consumers count no dead-lettered user: this run's in the DLQ are counted above, whichever attempt.)
      const whole = { ...settledOutcomes(runRecord), deadLettered: inProcess.deadLettered };
      snap = { ...inProcess, ...whole, unaccounted: recordUnaccounted(runRecord, whole) };
    }
    // Stopped while the consumers applied its users (the extract itself had ended): the run's record says
    // interrupted, as an extract stopped midway does, not completed with users pending.
    if (extracted && opts.signal?.aborted) await env.ledgerFor?.().runs.markInterrupted(runId, cancelledReason(snap.unaccounted), new Date(), ["running", "completed", "held"]);
    await env.save();
    progress("done", outcomes.size, rowsRead);
    const count = (o: Outcome) => snap[o];
    return {
      runId,
      rowsRead,
      cancelled: opts.signal?.aborted === true,
      created: count("created"),
      updated: count("updated"),
      unchanged: count("unchanged"),
      rejected: count("rejected"),
      deadLettered: count("deadLettered"),
      blocked: count("blocked"),
      deleted: count("deleted"),
      skipped: extracted?.skipped,
      held: extracted?.mirror?.held ?? false,
      heldReason: extracted?.mirror?.heldReason,
      unaccounted: snap.unaccounted,
      auth0Calls: adapters.reduce((s, a) => s + a.stats.calls, 0),
      auth0Status429: adapters.reduce((s, a) => s + a.stats.status429, 0),
      elapsedMs: Date.now() - started,
      syncMs,
      topReasons: acc.topReasons(5).map(([code, n]) => ({ code, count: n })),
      rejections: [...outcomes.values()]
        .filter((e) => e.outcome === "rejected" && e.rejection)
        .sort((a, b) => (a.row ?? 0) - (b.row ?? 0))
        .map((e) => rejectionMessage(e.rejection!)),
      sqsRequests: extracted?.sqsRequests ?? 0,
      consumerInstances: consumerBudget(config).maxConcurrency,
      segments: extracted?.segments,
      importJobs: runRecord?.imports?.jobs ?? 0,
      importedUsers: runRecord?.imports?.users ?? 0,
    };
  } finally {
    if (!opts.environment) await env.stop();
  }
}

/**
 * A failed execution as the operator is told it: the run's recorded error (the failure step wrote it), not the
 * local engine's "execution failed".
 */
async function unloadFailure(env: LocalEnvironment, err: unknown, runId: string): Promise<Error> {
  const run = await env.ledgerFor?.().runs.get(runId).catch(() => undefined);
  if (run?.status === "failed" && run.error) return new Error(run.error, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}
