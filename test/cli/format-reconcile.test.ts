/**
 * What `auth0-sync reconcile` and `status` print of a reconcile: counts in the singular where there is one, and a
 * dry run's figures said as what it would do (it writes nothing: no seed removed, nobody adopted).
 */
import { describe, expect, it } from "vitest";
import { formatLastReconcile, formatReconcile } from "../../cli/format-reconcile.js";
import type { ReconcileReport } from "../../cli/targets/target.js";

const report = (o: Partial<Extract<ReconcileReport, { state: "completed" }>> = {}): ReconcileReport => ({
  state: "completed",
  dryRun: false,
  runId: "reconcile-1",
  usersInTenant: 1,
  managed: 1,
  inSync: 1,
  drifted: 0,
  missing: 0,
  repairsQueued: 0,
  rowsRead: 1,
  adopted: 0,
  ambiguous: 0,
  unclaimed: 0,
  unmatched: 0,
  seedsRemoved: 0,
  leftAlone: 0,
  auth0Calls: 1,
  drift: [],
  elapsedMs: 1200,
  ...o,
});

describe("formatReconcile", () => {
  it("one user is one user, in the report and in status", () => {
    const text = formatReconcile(report());
    expect(text).toContain("\n  1 user in the tenant's connection, 1 managed by the sync\n");
    expect(text).not.toMatch(/\b1 users\b/);
    expect(formatReconcile(report({ usersInTenant: 2 }))).toContain("\n  2 users in the tenant's connection,");
    const last = formatLastReconcile({ reconcileId: "reconcile-1", finishedAt: "2026-12-04T02:00:00.000Z", dryRun: false, figures: { usersInTenant: 1, drifted: 0, adopted: 0, repairsQueued: 0 }, drift: [] });
    expect(last[0]).toBe("Last reconcile  reconcile-1, 2026-12-04 02:00:00 UTC: 1 user, 0 drifted, 0 adopted, 0 repairs queued");
  });

  it("a dry run says which seeds would be removed and who would be adopted: it writes nothing", () => {
    const dry = formatReconcile(report({ dryRun: true, seedsRemoved: 3, adopted: 2 }));
    expect(dry).toContain("\n  3 seeds of an earlier reconcile that no row claims would be removed from the ledger\n");
    expect(dry).toContain("\n  2 would be adopted into the ledger (users a row of the table claims, of 1 row read)");
    expect(dry).not.toContain("claims removed from the ledger");
    const done = formatReconcile(report({ seedsRemoved: 1, adopted: 2 }));
    expect(done).toContain("\n  1 seed of an earlier reconcile that no row claims removed from the ledger\n");
    expect(done).toContain("\n  2 adopted into the ledger (");
  });
});
