/**
 * What a run is and how it ends, decided from its record: the figures its record keeps, and when a run still
 * recorded as running has in fact stopped (the ledger adapter and the extractor act on these, the CLI shows them).
 */
import { OUTCOMES, type Outcome } from "./outcomes.js";
import type { RejectCode, Rejection } from "./types.js";

/**
 * `interrupted`: the extractor stopped before the end of its extract (a Lambda timeout, a crash, a local run
 * stopped): marked by the next run that takes the expired lock, or by `status` once the lock is no longer its.
 */
export type RunStatus = "running" | "completed" | "held" | "failed" | "skipped" | "interrupted";

/**
 * What a run's record keeps of its extract: its figures while it runs (`partial`, written every 10 s, so an
 * interrupted run still says how far it got) and, once it ends, the extractor's result without its sample rows.
 */
export interface RunSummary {
  rowsRead: number;
  unchanged: number;
  rejected: number;
  enqueued: number;
  partial?: boolean;
  /** Mirror mode: managed users absent from the run, by planned action; held when over the threshold. */
  mirror?: { absent: number; block: number; delete: number; held: boolean; heldReason?: string; managed: number };
  messages?: number;
  sqsRequests?: number;
  rejectReasons?: Partial<Record<RejectCode, number>>;
  unmappedColumns?: string[];
  elapsedMs?: number;
  /** A run over an unloaded table: its segments finished / in all. */
  segments?: { done: number; total: number };
  /** Rows read again whose users the run had settled before (see ExtractorResult). */
  settledEarlier?: number;
}

/** A sortable, unique id: `run-20261123T180844-h3k9zq` for a sync, `reconcile-...` for a reconcile. */
export function newRunId(kind: "run" | "reconcile" | "watch" = "run", now = new Date()): string {
  return `${kind}-${now.toISOString().replace(/[-:.]/g, "").slice(0, 15)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Who holds the run lock, as the ledger read it. */
export interface RunLockState {
  runId?: string;
  /** Epoch milliseconds. */
  expiresAt?: number;
}

/**
 * A run recorded as running whose extractor no longer holds the run lock (released, expired, or taken by a later
 * run) stopped before the end: it is interrupted.
 */
export function isInterrupted(run: { runId: string; status: RunStatus }, lock: RunLockState, now: number): boolean {
  return run.status === "running" && !(lock.runId === run.runId && (lock.expiresAt ?? 0) > now);
}

/**
 * Of the last runs, those recorded as running whose extractor no longer holds the run lock, with why each is
 * interrupted: what `status` marks so (the ledger adapter only reads and writes).
 */
export function interruptedRuns(runs: { runId: string; status: RunStatus; summary?: Pick<RunSummary, "rowsRead"> }[], lock: RunLockState, now: number): { runId: string; reason: string }[] {
  return runs.filter((r) => isInterrupted(r, lock, now)).map((r) => ({ runId: r.runId, reason: interruptedReason(r.summary) }));
}

/** Why a run is interrupted, with what its extractor had done (the progress it last recorded). */
export function interruptedReason(summary: Pick<RunSummary, "rowsRead"> | undefined): string {
  const rowsRead = summary?.rowsRead;
  const done = rowsRead === undefined ? "before its first page" : `after reading ${rowsRead.toLocaleString("en-US")} rows`;
  return `the extractor stopped ${done} (a Lambda timeout, a crash or a stopped local run); what it had sent is applied, the rest goes with the next run`;
}

/** A run's status as an operator is told it: the record's, or "timed out" when following it stopped first. */
export type ReportedStatus = RunStatus | "timed out";

/**
 * A run as the operator is told it, by `auth0-sync run` (a stack or --local) and by `npm start`: one shape for the
 * text and for --json. The counts are the users settled by outcome; `unaccounted` are the users read (or found
 * absent by mirror mode) with no outcome yet: in flight, in the DLQ, or never sent (an interrupted run).
 */
export interface RunReport extends Record<Outcome, number> {
  runId: string;
  status: ReportedStatus;
  rowsRead: number;
  unaccounted: number;
  heldReason?: string;
  skippedReason?: string;
  error?: string;
  auth0Calls?: number;
  auth0Status429?: number;
  elapsedMs: number;
  /** The most frequent rejection codes, when the whole run's rejections are known (a local run). */
  topReasons?: { code: RejectCode; count: number }[];
  /** Every rejection known, with the row, key and field it names. */
  rejections: string[];
  /** A run over an unloaded table: its segments finished / in all. */
  segments?: { done: number; total: number };
  /** A run that is an execution of the unload state machine (a stack that unloads): its page in the console. */
  executionUrl?: string;
  /** New users created through Auth0 import jobs (docs/imports.md): the jobs and the users they created. */
  importJobs?: number;
  importedUsers?: number;
}

/** What a run's extract did (the extractor's result; a run over an unloaded table adds its segments). */
export interface ExtractorResult {
  runId: string;
  /** Why the run did not start (another extract holds the lock, or the previous run still drains); every figure is then 0. */
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
  /** A run over an unloaded table (unload-run.ts): its segments finished / in all. */
  segments?: { done: number; total: number };
  /** New users sent to import jobs (docs/imports.md): the import batches and the users in them. */
  imports?: { batches: number; users: number };
  /**
   * Rows read again whose users this run had already settled (a segment retried after it had sent them, a
   * redriven read): their outcomes were counted when they were settled, so they add none.
   */
  settledEarlier?: number;
}

/**
 * A sync run that started after this one and did work (not skipped): a redrive of this one would send older rows
 * over what it applied, and decide mirror mode over an older table. Reconciles do not count.
 */
export function laterRun(runs: { runId: string; status: RunStatus; startedAt: string }[], runId: string, startedAt: string): string | undefined {
  return runs.find((r) => r.runId !== runId && !r.runId.startsWith("reconcile-") && r.status !== "skipped" && r.startedAt > startedAt)?.runId;
}

/**
 * A run's users by outcome, from its record: the consumers' counts (each user settled once per run) plus what the
 * extract settled itself (unchanged and rejected rows, in its summary). Whole whichever process or attempt did the
 * work: a redriven run's report comes from it.
 */
/** Users of a run without an outcome by its record: rows read and absent users, less every outcome recorded. */
export function recordUnaccounted(run: { counts?: Partial<Record<Outcome, number>>; summary?: Partial<Pick<RunSummary, "rowsRead" | "unchanged" | "rejected" | "mirror">> } | undefined, outcomes = settledOutcomes(run)): number {
  const m = run?.summary?.mirror;
  const absent = m && !m.held ? m.absent : 0;
  return (run?.summary?.rowsRead ?? 0) + absent - OUTCOMES.reduce((n, o) => n + outcomes[o], 0);
}

export function settledOutcomes(run: { counts?: Partial<Record<Outcome, number>>; summary?: Partial<Pick<RunSummary, "unchanged" | "rejected">> } | undefined): Record<Outcome, number> {
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, run?.counts?.[o] ?? 0])) as Record<Outcome, number>;
  outcomes.unchanged += run?.summary?.unchanged ?? 0;
  outcomes.rejected += run?.summary?.rejected ?? 0;
  return outcomes;
}
