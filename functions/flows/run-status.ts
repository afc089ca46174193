/**
 * What `auth0-sync status` reads of the ledger: the last runs, with those the core judges interrupted (recorded as
 * running while their extractor no longer holds the run lock) marked so first; and the last reconcile, with its
 * repairs' outcomes as the consumers counted them under its id.
 */
import { interruptedRuns, laterRun } from "../core/runs.js";
import type { ReconcileRecord, RunRecord } from "../core/records.js";
import type { Ledger } from "../adapters/ledger/ledger.js";

export async function runsForStatus(ledger: Pick<Ledger, "runs">, limit = 10, now = Date.now()): Promise<RunRecord[]> {
  const runs = await ledger.runs.latest(limit);
  if (!runs.some((r) => r.status === "running")) return runs;
  const stopped = interruptedRuns(runs, await ledger.runs.lock(), now);
  for (const { runId, reason } of stopped) {
    if (!(await ledger.runs.markInterrupted(runId, reason, new Date(now)))) continue;
    const r = runs.find((x) => x.runId === runId)!;
    Object.assign(r, { status: "interrupted", error: reason, finishedAt: new Date(now).toISOString() });
  }
  return runs;
}

/** The sync run that started after this one and did work, if any (core/runs.ts laterRun): a redrive is refused. */
export async function runAfter(ledger: Pick<Ledger, "runs">, runId: string, startedAt: string): Promise<string | undefined> {
  return laterRun(await ledger.runs.latest(25), runId, startedAt);
}

/** The last finished reconcile, with its repairs' outcomes so far (a dry run has none). */
export async function lastReconcile(ledger: Pick<Ledger, "runs" | "reconciles">): Promise<ReconcileRecord | undefined> {
  const record = await ledger.reconciles.last();
  if (!record || record.dryRun) return record;
  return { ...record, repairOutcomes: (await ledger.runs.get(record.reconcileId))?.counts ?? {} };
}
