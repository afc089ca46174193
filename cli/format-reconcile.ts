/**
 * What `auth0-sync reconcile` prints, and the last reconcile in `status`: the figures, then the drift by user and
 * field (emails masked by the core; other values as Auth0 and the sync hold them).
 */
import type { ReconcileRecord } from "../functions/adapters/ledger/ledger.js";
import type { FieldDrift } from "../functions/core/reconcile.js";
import { n, plural, show } from "./format.js";
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
    `  ${n(r.usersInTenant)} users in the tenant's connection, ${n(r.managed)} managed by the sync`,
    `  ${n(r.inSync)} in sync, ${n(r.drifted)} drifted (${n(r.missing)} gone from Auth0), ${n(r.leftAlone)} left alone (blocked by mirror mode)`,
    `  ${n(r.repaired)} repaired${r.repairOutcomes ? ` (${Object.entries(r.repairOutcomes).filter(([, k]) => (k ?? 0) > 0).map(([o, k]) => `${n(k ?? 0)} ${o}`).join(", ") || "none applied yet"})` : ""}, ${n(r.adopted)} adopted into the ledger, ${n(r.ambiguous)} ambiguous (a key several Auth0 users carry, or an email several rows share: not adopted)`,
    `  ${plural(r.auth0Calls, "Management API call")}, ${(r.elapsedMs / 1000).toFixed(1)} s`,
  ];
  if (r.drift.length > 0) {
    out.push("", `Drift${r.drift.length < r.drifted ? ` (the first ${r.drift.length} users)` : ""}:`);
    for (const d of r.drift) {
      out.push(`  ${d.keyLabel} (${d.userId})${d.kind === "missing" ? " is gone from Auth0" : ""}${d.repaired ? "" : " - not repaired"}`);
      for (const f of d.fields) out.push(fieldLine(f));
    }
  }
  return out.join("\n");
}

/** The last reconcile, in `status`. */
export function formatLastReconcile(r: ReconcileRecord | undefined): string[] {
  if (!r) return [];
  const f = r.figures;
  const line = `Last reconcile  ${r.reconcileId}, ${r.finishedAt.replace("T", " ").slice(0, 19)} UTC: ${n(f.usersInTenant ?? 0)} users, ${n(f.drifted ?? 0)} drifted, ${n(f.repaired ?? 0)} repaired, ${n(f.adopted ?? 0)} adopted`;
  return [line, ...r.drift.slice(0, 5).map((d) => `  ${d.keyLabel}: ${d.kind === "missing" ? "gone from Auth0" : d.fields.map((x) => x.field).join(", ")}${d.repaired ? "" : " (not repaired)"}`)];
}
