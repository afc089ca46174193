/**
 * A run's figures from its ledger item: the extractor's summary (rows read, unchanged and rejected rows, absent
 * users) plus the consumers' counts.
 */
import type { RunRecord } from "../functions/adapters/ledger/ledger.js";
import { recordUnaccounted, settledOutcomes, type RunSummary } from "../functions/core/runs.js";
import type { RunReport } from "./targets/target.js";

export function absentOf(run: RunRecord | undefined): number {
  const m = run?.summary?.mirror;
  return m && !m.held ? m.absent : 0;
}

/** A run's report from its ledger item: the extractor's summary plus the consumers' counts. */
export function runReport(runId: string, run: RunRecord | undefined, status: RunReport["status"], elapsedMs: number): RunReport {
  const s: Partial<RunSummary> = run?.summary ?? {};
  const outcomes = settledOutcomes(run);
  return {
    runId,
    status,
    rowsRead: s.rowsRead ?? 0,
    ...outcomes,
    unaccounted: run?.summary ? recordUnaccounted(run, outcomes) : 0,
    heldReason: run?.heldReason,
    skippedReason: run?.skippedReason,
    error: run?.error,
    elapsedMs,
    rejections: [],
    ...((run?.segments ?? s.segments) ? { segments: run?.segments ?? s.segments } : {}),
    ...(run?.imports ? { importJobs: run.imports.jobs, importedUsers: run.imports.users } : {}),
  };
}

/** Users of a finished extract with no outcome yet: in flight, in the DLQ, or lost. */
export function pendingOf(run: RunRecord): number | undefined {
  return run.summary ? runReport(run.runId, run, run.status, 0).unaccounted : undefined;
}

/** The exit code of a run mirror mode held (docs/operations.md): nothing was blocked or deleted, a person must look. */
export const EXIT_HELD = 3;

/**
 * A run's exit code (`auth0-sync run`, `npm start`): 1 the run did not finish well (failed, skipped, interrupted,
 * timed out, users without an outcome), 3 mirror mode held it (a job that runs syncs notices, and a person
 * approves), else 0. An interrupted run is never 0, even with every user it read settled: it stopped reading.
 */
export function runExitCode(r: Pick<RunReport, "status" | "unaccounted">): number {
  if (r.status === "failed" || r.status === "skipped" || r.status === "interrupted" || r.status === "timed out" || (r.status !== "running" && r.unaccounted !== 0)) return 1;
  return r.status === "held" ? EXIT_HELD : 0;
}
