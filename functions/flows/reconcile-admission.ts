/**
 * When a reconcile may start: not while an extract holds the run lock, and not while the queue still drains a
 * run's users or an earlier reconcile's repairs. Either would move the ledger under the comparison (and a repair
 * judged against a ledger that moved on is skipped by the consumer anyway: core/decide.ts).
 */
import type { Ledger } from "../adapters/ledger/ledger.js";

export async function reconcileAdmission(ledger: Pick<Ledger, "runs">, depth: () => Promise<{ visible: number; inFlight: number }>, now = Date.now()): Promise<string | undefined> {
  const lock = await ledger.runs.lock();
  if (lock.runId && (lock.expiresAt ?? 0) > now) return `an extract (${lock.runId}) is running`;
  const q = await depth();
  const queued = q.visible + q.inFlight;
  return queued > 0 ? `the queue still drains: ${queued} messages` : undefined;
}
