import { describe, expect, it } from "vitest";
import { formatPlan } from "../../cli/format.js";
import type { PlanReport } from "../../cli/plan.js";

const plan = (extra: Partial<PlanReport> = {}): PlanReport => ({
  rowsRead: 3,
  counts: { create: 0, update: 0, unchanged: 3, reject: 0, block: 0, delete: 0 },
  rejections: [],
  changes: [],
  lookups: 0,
  lookupsSkipped: 0,
  writes: 0,
  rps: 2,
  unmappedColumns: [],
  ...extra,
});

describe("a tenant copy's plan (issue 24)", () => {
  it("with nothing to change speaks of the target tenant and the source, not of a table (point 14)", () => {
    const copy = formatPlan("local", plan({ copySample: [], copyPassedByDeny: { paths: [], truncated: false } }), []);
    expect(copy).toContain("\nNothing to change: the target tenant already matches the source tenant.");
    expect(copy).not.toContain("table");
    expect(formatPlan("local", plan(), [])).toContain("\nNothing to change: Auth0 already matches the table.");
  });

  it("lists the metadata paths a deny list lets through, with the users holding each (point 4)", () => {
    const paths = [
      { path: "app_metadata.crm", users: 3 },
      { path: "app_metadata.crm.account_ref", users: 2 },
      { path: "app_metadata.legacy_password_hash", users: 1 },
    ];
    const text = formatPlan("local", plan({ copySample: [], copyPassedByDeny: { paths, truncated: false } }), []);
    expect(text).toContain(
      [
        "Metadata a deny list lets through (every source user read; an allow list names what it copies: docs/tenant-copy.md):",
        "  app_metadata.crm                   3 users",
        "  app_metadata.crm.account_ref       2 users",
        "  app_metadata.legacy_password_hash  1 user",
      ].join("\n"),
    );
    const many = Array.from({ length: 45 }, (_, i) => ({ path: `user_metadata.k${String(i).padStart(2, "0")}`, users: 1 }));
    const long = formatPlan("local", plan({ copySample: [], copyPassedByDeny: { paths: many, truncated: true } }), []);
    expect(long).toContain("  ... and 5 more paths (--json lists them)");
    expect(long).toContain("  (more distinct paths than are counted: only the first 45 are)");
    expect(formatPlan("local", plan({ copySample: [], copyPassedByDeny: { paths: [], truncated: false } }), [])).not.toContain("deny list");
  });
});
