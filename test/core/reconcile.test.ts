import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DecisionConfig, LedgerView } from "../../functions/core/decide.js";
import { applyPatch, plan } from "../../functions/core/plan.js";
import { judgeManaged, maskEmail, repairs, seedFromSnapshot, type TenantUser } from "../../functions/core/reconcile.js";
import { currentArb, desiredArb } from "../helpers/arbitraries.js";

const config = (roles?: { removeUnlisted: boolean }): DecisionConfig =>
  ({ mode: "upsert", identity: { keyColumn: "id", emailColumn: "email", appMetadataKey: "sync_key" }, roles: roles && { column: "roles", ...roles } });

describe("reconcile: what counts as drift (core)", () => {
  it("drift names only what the sync owns, never a createOnly target; repairing it leaves the user in sync", () => {
    fc.assert(
      fc.property(desiredArb, currentArb, fc.subarray(["admin", "editor", "viewer", "billing"]), (desired, current, roles) => {
        const entry: LedgerView = { userId: current.user_id, managed: true, fingerprint: "f", profile: desired };
        const actual: TenantUser = { ...current, roles };
        const cfg = config({ removeUnlisted: true });
        const v = judgeManaged(entry, actual, cfg);
        if (v.kind !== "drifted") return;
        const owned = new Set(["email", "email_verified", ...Object.keys(desired.fields), ...Object.keys(desired.user_metadata).map((k) => `user_metadata.${k}`), ...Object.keys(desired.app_metadata).map((k) => `app_metadata.${k}`), "roles"]);
        for (const d of v.drift) {
          expect(owned.has(d.field), d.field).toBe(true);
          expect(desired.createOnly).not.toContain(d.field);
        }
        // The repair is the consumer's own plan against the exported user: after it, nothing drifts.
        const op = plan({ desired, current: actual, mode: "upsert", previouslyOwned: { user_metadata: Object.keys(desired.user_metadata), app_metadata: Object.keys(desired.app_metadata) } });
        const repaired: TenantUser = { ...(op.kind === "update" ? applyPatch(actual, op.patch) : actual), roles: desired.roles ?? roles };
        expect(judgeManaged({ ...entry }, repaired, cfg).kind).toBe("in-sync");
      }),
      { numRuns: 300 },
    );
  });

  it("a user mirror mode blocked, an unmanaged one and a gone one", () => {
    const profile = { key: "k1", email: "ada@example.com", fields: { given_name: "Ada" }, user_metadata: {}, app_metadata: { sync_key: "k1" }, createOnly: [] };
    const user: TenantUser = { user_id: "auth0|1", email: "ada@example.com", given_name: "Changed", app_metadata: { sync_key: "k1" } };
    expect(judgeManaged({ userId: "auth0|1", managed: true, profile, blockedAt: "2026-11-01T00:00:00Z" }, user, config())).toEqual({ kind: "left-alone", reason: "blocked by mirror mode" });
    expect(judgeManaged({ userId: "auth0|1", managed: false, profile }, user, config()).kind).toBe("left-alone");
    expect(judgeManaged({ userId: "auth0|1", managed: true, profile }, undefined, config())).toEqual({ kind: "missing" });
    // Insert mode never changes an existing user; update mode never creates one.
    expect(repairs({ kind: "drifted", drift: [] }, "insert")).toBe(false);
    expect(repairs({ kind: "missing" }, "update")).toBe(false);
    expect(repairs({ kind: "missing" }, "upsert")).toBe(true);
  });

  it("an email in the drift is masked", () => {
    const profile = { key: "k1", email: "ada@example.com", fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] };
    const v = judgeManaged({ userId: "auth0|1", managed: true, profile }, { user_id: "auth0|1", email: "someone.else@example.org" }, config());
    expect(v).toEqual({ kind: "drifted", drift: [{ field: "email", before: "s***@example.org", after: "a***@example.com" }] });
    expect(maskEmail("not-an-email")).toBe("***");
  });

  it("seeds by sync key with a key column, by email without; several claimants are never guessed", () => {
    const user: TenantUser = { user_id: "auth0|1", email: "Ada@Example.com", app_metadata: { sync_key: "c-1" } };
    expect(seedFromSnapshot(user, 1, config())).toEqual({ kind: "seed", key: "c-1", userId: "auth0|1" });
    expect(seedFromSnapshot({ ...user, app_metadata: {} }, 1, config())).toEqual({ kind: "unkeyed" });
    expect(seedFromSnapshot(user, 2, config())).toMatchObject({ kind: "ambiguous", key: "c-1" });
    const byEmail = { ...config(), identity: { emailColumn: "email", appMetadataKey: "sync_key" } } as DecisionConfig;
    expect(seedFromSnapshot(user, 1, byEmail)).toEqual({ kind: "seed", key: "ada@example.com", userId: "auth0|1" });
  });
});
