/**
 * What `auth0-sync reconcile` prints, and the last reconcile in `status`: the figures, then the drift by user and
 * field (emails masked by the core; other values as Auth0 and the sync hold them).
 */
import type { ReconcileRecord } from "../functions/adapters/ledger/ledger.js";
import type { Outcome } from "../functions/core/outcomes.js";
import type { FieldDrift } from "../functions/core/drift.js";
import { formatCount, plural, show } from "./format.js";
import type { ReconcileReport } from "./targets/target.js";

const fieldLine = (f: FieldDrift) => `      ${f.field}: ${show(f.before)} -> ${show(f.after)}`;

export function formatReconcile(r: ReconcileReport): string {
  if (r.state === "running") {
    return [
      `Reconcile ${r.reconcileId}: the export job ${r.jobId} is still ${r.jobStatus}.`,
      r.dryRun ? "A dry run records no job: run it again later, or without --dry-run." : "The reconcile function goes on with it by itself; 'auth0-sync status' shows the result when it ends.",
    ].join("\n");
  }
  const out = [
    `Reconcile ${r.runId}${r.dryRun ? " (dry run: nothing written, nothing repaired)" : ""}`,
    `  ${plural(r.usersInTenant, "user")} in the tenant's connection, ${formatCount(r.managed)} managed by the sync`,
    `  ${formatCount(r.inSync)} in sync, ${formatCount(r.drifted)} drifted (${formatCount(r.missing)} gone from Auth0), ${formatCount(r.leftAlone)} left alone (blocked by mirror mode)`,
    `  ${repairs(r.repairsQueued, r.repairOutcomes, r.dryRun)}`,
    r.rowsRead === undefined
      ? "  the table was not read (no warehouse source): nobody adopted into the ledger"
      : `  ${formatCount(r.adopted)} ${r.dryRun ? "would be adopted" : "adopted"} into the ledger (users a row of the table claims, of ${plural(r.rowsRead, "row")} read), ${formatCount(r.ambiguous)} ambiguous (a key several Auth0 users carry, or an email several rows share: not adopted)`,
  ];
  if (r.unclaimed > 0) out.push(`  ${plural(r.unclaimed, "user")} whose identity key (the sync key; with the email as identity, the email) no row of the table has: left alone, not adopted`);
  if (r.unmatched > 0) out.push(`  ${plural(r.unmatched, "user")} with no sync key and no row's email: not the sync's, left alone`);
  // A dry run writes nothing: its figures say what the reconcile would do.
  if (r.seedsRemoved > 0) out.push(`  ${plural(r.seedsRemoved, "seed")} of an earlier reconcile that no row claims ${r.dryRun ? "would be removed" : "removed"} from the ledger`);
  out.push(`  ${plural(r.auth0Calls, "Management API call")}, ${(r.elapsedMs / 1000).toFixed(1)} s`);
  if (r.drift.length > 0) {
    out.push("", `Drift${r.drift.length < r.drifted ? ` (the first ${plural(r.drift.length, "user")})` : ""}:`);
    for (const d of r.drift) {
      out.push(`  ${d.keyLabel} (${d.userId})${d.kind === "missing" ? " is gone from Auth0" : ""}${d.repaired ? "" : " - not repaired"}`);
      for (const f of d.fields) out.push(fieldLine(f));
    }
  }
  return out.join("\n");
}

/**
 * Repairs are queued, then applied by the consumers, which count their outcomes under the reconcile's id: what is
 * not settled yet is in the queue or the DLQ, or was lost with a local run that stopped (its queue lives only as
 * long as the process; the next reconcile finds that drift again).
 */
function repairs(queued: number, outcomes: Partial<Record<Outcome, number>> | undefined, dryRun: boolean): string {
  const head = `${plural(queued, "repair")} queued`;
  if (dryRun || queued === 0) return head;
  if (!outcomes) return `${head} (the consumers apply them: 'auth0-sync status' shows how many were applied)`;
  const k = (o: Outcome) => outcomes[o] ?? 0;
  const settled = Object.values(outcomes).reduce((a, b) => a + (b ?? 0), 0);
  const parts = [`${formatCount(k("created") + k("updated"))} applied`];
  if (k("rejected") > 0) parts.push(`${formatCount(k("rejected"))} rejected`);
  if (k("unchanged") > 0) parts.push(`${formatCount(k("unchanged"))} with nothing left to do`);
  const left = queued - settled;
  const pending = left > 0 ? `; ${formatCount(left)} not applied: still in the queue or the DLQ, or lost with a local run that stopped (the next reconcile finds them again)` : "";
  return `${head}, ${parts.join(", ")}${pending}`;
}

/** The last reconcile, in `status`. */
export function formatLastReconcile(r: ReconcileRecord | undefined): string[] {
  if (!r) return [];
  const f = r.figures;
  // Records written before repairs were counted as queued name them `repaired`: they were queued all the same.
  const queued = f.repairsQueued ?? f.repaired ?? 0;
  const line = `Last reconcile  ${r.reconcileId}, ${r.finishedAt.replace("T", " ").slice(0, 19)} UTC: ${plural(f.usersInTenant ?? 0, "user")}, ${formatCount(f.drifted ?? 0)} drifted, ${formatCount(f.adopted ?? 0)} adopted, ${repairs(queued, r.repairOutcomes, r.dryRun)}`;
  return [line, ...r.drift.slice(0, 5).map((d) => `  ${d.keyLabel}: ${d.kind === "missing" ? "gone from Auth0" : d.fields.map((x) => x.field).join(", ")}${d.repaired ? "" : " (not repaired)"}`)];
}
