/**
 * One invocation's share of a reconcile. An export of a large tenant can outlast a Lambda: the job's id is
 * recorded in the ledger before it is polled, an invocation that runs out of time returns "running", and the next
 * one continues the same job (never a second one). Once the job completes, its file is read and judged
 * (reconcile.ts) and the reconcile is recorded as finished.
 */
import type { Auth0Adapter } from "../adapters/auth0/client.js";
import type { OrganizationRef } from "../adapters/auth0/organizations.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import type { Auth0Snapshot } from "../adapters/auth0/snapshot.js";
import type { Ledger } from "../adapters/ledger/ledger.js";
import type { TenantSnapshot } from "../core/snapshot.js";
import { newRunId } from "../core/runs.js";
import { reconcile, type ReconcileDeps, type ReconcileResult } from "./reconcile-run.js";

/** Users whose drift the ledger's record keeps (one item, well under DynamoDB's 400 KB with 10 KB profiles). */
const RECORDED_DRIFT = 30;

export interface ReconcileEvent {
  /** Read and report only: no ledger write, no repair, no job recorded (it reads a job already recorded, if any). */
  dryRun?: boolean;
}

export type SessionResult =
  | { state: "running"; reconcileId: string; jobId: string; status: string }
  /** Not started: an extract runs, or repairs or a run's users still drain (the ledger would move under it). */
  | { state: "skipped"; reason: string }
  | { state: "completed"; result: ReconcileResult };

export interface SessionDeps extends Omit<ReconcileDeps, "snapshot" | "runId" | "dryRun" | "ledger"> {
  ledger: Ledger;
  auth0: Auth0Adapter;
  reader: Auth0Snapshot;
  /** Why a reconcile may not start now (an extract holds the run lock, the queue still drains), or undefined. */
  admit?: () => Promise<string | undefined>;
  /** When this invocation stops waiting for the export (epoch ms). */
  deadline?: number;
  signal?: AbortSignal;
}

export async function runReconcileSession(deps: SessionDeps, event: ReconcileEvent = {}): Promise<SessionResult> {
  const { ledger, auth0, reader } = deps;
  const dryRun = event.dryRun === true;
  const callsBefore = auth0.stats.calls;
  // A dry run reads a recorded job too (it records none itself): it never starts a second export beside it.
  const pending = await ledger.reconciles.job();
  const reconcileId = pending?.reconcileId ?? newRunId("reconcile");
  const refused = await deps.admit?.();
  if (refused) {
    deps.logger.warn("reconcile skipped", { reconcileId, reason: refused });
    return { state: "skipped", reason: refused };
  }
  const wait = { deadline: deps.deadline, signal: deps.signal };
  const record = async (jobId: string) => {
    if (!dryRun) await ledger.reconciles.putJob({ reconcileId, jobId, startedAt: new Date().toISOString() });
  };
  let read = await reader.readExport({ jobId: pending?.jobId, onJobStarted: record, ...wait }).catch((err: unknown) => {
    // Auth0 deletes a job's data after 24 hours, and a job may fail: the reconcile starts a new export instead of
    // failing on the recorded one at every invocation until Auth0 forgets it.
    if (pending && err instanceof Auth0Error && !err.retryable) {
      deps.logger.warn("the recorded export job is gone or failed: starting a new one", { reconcileId, jobId: pending.jobId, reason: err.message });
      return undefined;
    }
    throw err;
  });
  read ??= await reader.readExport({ onJobStarted: record, ...wait });
  if (read.state === "running") {
    deps.logger.info("export still running: the next invocation continues it", { reconcileId, jobId: read.jobId, status: read.status });
    return { state: "running", reconcileId, jobId: read.jobId, status: read.status };
  }
  const users = read.users;
  const snapshot: TenantSnapshot = {
    users: () => users,
    roleNames: async () => [...(await auth0.roleMap()).keys()],
    roleMembers: (name) => reader.roleMembers(name, deps.signal),
    organizationMembers: (ref) => organizationMembers(auth0, ref, deps.config.organizations?.by ?? "name", deps.config.organizations?.roles !== undefined),
    get calls() {
      return auth0.stats.calls - callsBefore;
    },
  };
  const result = await reconcile({ ...deps, snapshot, runId: reconcileId, dryRun });
  if (!dryRun) {
    const { runId: _id, drift: _drift, elapsedMs: _ms, ...figures } = result;
    await ledger.reconciles.finish(reconcileId, {
      reconcileId,
      finishedAt: new Date().toISOString(),
      dryRun,
      figures,
      // The first users' repairs, per field (before -> after): the record of what the reconcile changed.
      drift: result.drift.slice(0, RECORDED_DRIFT),
    });
  }
  return { state: "completed", result };
}

/** An organization's members by the config's reference; an organization the tenant no longer has has none. */
async function* organizationMembers(auth0: Auth0Adapter, ref: string, by: OrganizationRef, withRoles: boolean): AsyncGenerator<{ userId: string; roles: string[] }> {
  let id: string | undefined;
  try {
    [id] = await auth0.organizations.resolve([ref], by);
  } catch (err) {
    if (err instanceof Auth0Error && err.kind === "unknown_organization") return;
    throw err;
  }
  yield* auth0.organizations.members(id as string, withRoles);
}
