/**
 * The reconcile Lambda's invocation: one invocation's share of a reconcile (reconcile-session.ts), with a
 * deadline that keeps time back for reading the export's file and the table; an invocation that runs out of time
 * while the export job runs has the function invoked again to continue the same job; a finished reconcile's
 * figures as metrics. The handler module (functions/reconcile/handler.ts) gives the production dependencies.
 */
import type { Context } from "aws-lambda";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { lambdaHandler, type DepsFactory } from "../commons/lambda.js";
import type { Powertools } from "../commons/powertools.js";
import { runReconcileSession, type ReconcileEvent, type SessionDeps, type SessionResult } from "./reconcile-session.js";

/** What an invocation needs besides its deadline: built once per instance. */
export type ReconcileInstance = Omit<SessionDeps, "deadline"> & {
  /** Starts the next invocation, which continues the export job this one ran out of time for. */
  continueLater?: (event: ReconcileEvent, context: Context) => Promise<void>;
};
export type ReconcileDepsFactory = DepsFactory<ReconcileInstance>;

/** The time kept back from the export's wait for reading its file and judging the users (at most half the invocation). */
const READ_RESERVE_MS = 5 * 60_000;

async function reconcileInvocation(d: ReconcileInstance, event: ReconcileEvent | undefined, context: Context, { metrics }: Powertools): Promise<SessionResult> {
  const remaining = typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : 15 * 60_000;
  const deadline = Date.now() + remaining - Math.min(READ_RESERVE_MS, remaining / 2);
  const outcome = await runReconcileSession({ ...d, deadline }, event ?? {});
  if (outcome.state === "running") {
    // A dry run records no job, so a continuation would start another export: it just reports "running".
    if (!event?.dryRun) await d.continueLater?.(event ?? {}, context);
    return outcome;
  }
  // Skipped: the next scheduled reconcile tries again.
  if (outcome.state === "skipped") return outcome;
  const r = outcome.result;
  emitMetric(metrics, "ReconcileUsersScanned", r.usersInTenant);
  emitMetric(metrics, "ReconcileManaged", r.managed);
  emitMetric(metrics, "ReconcileDrifted", r.drifted);
  emitMetric(metrics, "ReconcileRepaired", r.repairsQueued);
  emitMetric(metrics, "ReconcileAdopted", r.adopted);
  emitMetric(metrics, "ReconcileAuth0Calls", r.auth0Calls);
  return outcome;
}

/** The reconcile's handler over the given dependencies (made once per instance). */
export function createReconcileHandler(factory: ReconcileDepsFactory) {
  return lambdaHandler("reconcile", factory, reconcileInvocation);
}
