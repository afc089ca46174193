/**
 * What the CLI's commands act on: a deployed stack (aws.ts) or the local pipeline's state (local.ts), both in
 * cli/targets/. Commands format reports; targets gather them.
 */
import type { ReconcileRecord, RunRecord } from "../../functions/adapters/ledger/ledger.js";
import type { ReconcileResult } from "../../functions/flows/reconcile-run.js";
import type { RedriveProgress } from "../../functions/adapters/sqs/redrive.js";
import type { Outcome } from "../../functions/core/outcomes.js";
import type { WatchNote, WatchRecord } from "../../functions/core/records.js";
import type { RunReport } from "../../functions/core/runs.js";
import type { PlanReport } from "../plan.js";

export interface RunProgress {
  phase: "extract" | "consume" | "done";
  done: number;
  total: number;
  elapsedMs: number;
}

export type { RunReport } from "../../functions/core/runs.js";

export interface QueueState {
  visible: number;
  inFlight: number;
  /** Age of the oldest message in seconds, when known. */
  oldestAgeSeconds?: number;
}

export interface DlqSample {
  messageId: string;
  runId?: string;
  users: number;
  sentAt?: number;
  /** Why the users failed: the ledger's last error of each, or why the message itself is malformed. */
  reasons: string[];
}

export interface AlarmState {
  name: string;
  state: string;
  reason?: string;
}

export interface StatusReport {
  where: string;
  runs: RunRecord[];
  queue: QueueState;
  dlq: QueueState;
  /** Undefined where there is no CloudWatch (locally). */
  alarms?: AlarmState[];
  dlqSample: DlqSample[];
  dashboardUrl?: string;
  /** The last finished reconcile, if any ran. */
  lastReconcile?: ReconcileRecord;
  /** The watch's counts and latest notes, if it ever saw an event (docs/watch.md). */
  watch?: WatchRecord;
  /** A stack that unloads: each run's execution in the Step Functions console, by run id. */
  executionUrls?: Record<string, string>;
}

export interface RedriveReport {
  /** Messages in the DLQ before the move. */
  messages: number;
  progress?: RedriveProgress;
  dryRun: boolean;
  /** Locally the consumers run until the moved messages are processed: their outcomes. */
  processed?: Partial<Record<Outcome, number>>;
  left?: number;
}

export interface PlanOptions {
  maxLookups: number;
  /** `--key K`: report what the run does with this key's row (PlanReport.forKey). */
  key?: string;
  onProgress?: (p: { rowsRead: number; totalRows?: number }) => void;
}

export interface RunOptions {
  approveMirror: boolean;
  wait: boolean;
  timeoutSeconds: number;
  pollMs?: number;
  /** Ctrl-C: a local run stops taking work (see LocalTarget.run); a deployed run goes on, only following stops. */
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
}

export interface StatusOptions {
  runs: number;
  sample: number;
}

export interface RedriveOptions {
  rate?: number;
  dryRun: boolean;
  signal?: AbortSignal;
  pollMs?: number;
  onProgress?: (p: RedriveProgress) => void;
}

/** `redrive --execution`: a failed run over an unloaded table resumed where it failed (Step Functions' redrive). */
export interface RedriveExecutionOptions {
  /** The run (the execution's name); the latest failed run when absent. */
  runId?: string;
  wait: boolean;
  timeoutSeconds: number;
  pollMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
}

export interface ReconcileOptions {
  /** Read and report only: no ledger write, no repair. */
  dryRun: boolean;
}

/**
 * A reconcile's report: the figures and the drift by user and field (`completed`), or, on a stack, an export job
 * that outlived the function's invocation, which the function goes on with (`running`: `status` shows the end).
 */
export type ReconcileReport =
  | ({ state: "completed"; dryRun: boolean; elapsedMs: number; repairOutcomes?: Partial<Record<Outcome, number>> } & Omit<ReconcileResult, "elapsedMs">)
  | { state: "running"; dryRun: boolean; reconcileId: string; jobId: string; jobStatus: string; elapsedMs: number };

export interface WatchOptions {
  signal?: AbortSignal;
  /** Each user the watch acted on, as it happens. */
  onNote?: (note: WatchNote) => void;
  /** The event source's batching window (default the deployed 5 s). */
  batchWindowMs?: number;
  /** Locally, once the watch listens: the emulator's URL and a file holding a Dashboard session's token, to edit users as an admin would. */
  onReady?: (info: { baseUrl: string; dashboardTokenFile: string }) => void;
}

/** What a local watch did until it was stopped. */
export interface WatchReport {
  logged: number;
  delivered: number;
  batches: number;
  repairsQueued: number;
  repairOutcomes: Partial<Record<Outcome, number>>;
  auth0Calls: number;
}

export interface Target {
  /** "stack auth0-sync-demo (eu-west-1)" or "local state .local-state". */
  readonly where: string;
  plan(opts: PlanOptions): Promise<PlanReport>;
  run(opts: RunOptions): Promise<RunReport>;
  status(opts: StatusOptions): Promise<StatusReport>;
  redrive(opts: RedriveOptions): Promise<RedriveReport>;
  redriveExecution(opts: RedriveExecutionOptions): Promise<RunReport>;
  reconcile(opts: ReconcileOptions): Promise<ReconcileReport>;
  /** Runs the watch until the signal (locally); a stack's watch runs by itself. */
  watch(opts: WatchOptions): Promise<WatchReport>;
  close(): Promise<void>;
}

/** With --local, the emulated tenant's rate (and the sync's) when --local-rate is not given: fast, as npm start's --rate. */
export const LOCAL_EMULATOR_RATE = 200;

/** An operator mistake or an unmet precondition: printed as one sentence, exit code 2, no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "CliError";
  }
}
