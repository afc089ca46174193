import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { startUser, type DecisionConfig, type LedgerView } from "../../functions/core/decide.js";
import { applyPatch, ownedKeys, plan } from "../../functions/core/plan.js";
import { judgeManaged, maskEmail, matchByEmail, repairs, seedFromSnapshot, type TenantUser } from "../../functions/core/reconcile.js";
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
        const op = plan({ desired, current: actual, mode: "upsert", previouslyOwned: ownedKeys(desired) });
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
    expect(seedFromSnapshot(user, 1, config())).toEqual({ kind: "seed", key: "c-1", userId: "auth0|1", adopted: true });
    // Seeded before with the same user: refreshed, not adopted again; a key the sync manages or applied is not seeded.
    expect(seedFromSnapshot(user, 1, config(), { userId: "auth0|1", managed: false })).toMatchObject({ kind: "seed", adopted: false });
    expect(seedFromSnapshot(user, 1, config(), { userId: "auth0|9", managed: true })).toEqual({ kind: "known", key: "c-1" });
    expect(seedFromSnapshot({ ...user, app_metadata: {} }, 1, config())).toEqual({ kind: "unkeyed" });
    expect(seedFromSnapshot(user, 2, config())).toMatchObject({ kind: "ambiguous", key: "c-1" });
    const byEmail = { ...config(), identity: { emailColumn: "email", appMetadataKey: "sync_key" } } as DecisionConfig;
    expect(seedFromSnapshot(user, 1, byEmail)).toEqual({ kind: "seed", key: "ada@example.com", userId: "auth0|1", adopted: true });
    expect(matchByEmail(["c-1", "c-1"])).toEqual({ kind: "row", key: "c-1" });
    expect(matchByEmail(["c-1", "c-2"])).toMatchObject({ kind: "ambiguous" });
  });

  it("masks an address wherever a drifted value holds one (a name defaults to the email in Auth0)", () => {
    const profile = { key: "k1", email: "ada@example.com", fields: { name: "Ada Lovelace" }, user_metadata: { contact: "ada@example.com" }, app_metadata: {}, createOnly: [] };
    const v = judgeManaged({ userId: "auth0|1", managed: true, profile }, { user_id: "auth0|1", email: "ada@example.com", name: "ada@example.com", user_metadata: { contact: "write to bob@corp.example" } }, config());
    expect(v).toEqual({
      kind: "drifted",
      drift: [
        { field: "name", before: "a***@example.com", after: "Ada Lovelace" },
        { field: "user_metadata.contact", before: "write to b***@corp.example", after: "a***@example.com" },
      ],
    });
  });

  it("a repair the ledger has moved past does nothing: another profile applied, the user blocked or deleted by mirror mode", () => {
    const desired = { key: "k1", email: "ada@example.com", fields: { given_name: "Ada" }, user_metadata: {}, app_metadata: {}, createOnly: [] };
    const observed = { user_id: "auth0|1", email: "ada@example.com", given_name: "Changed" };
    const start = (entry: LedgerView | undefined) => startUser({ desired, fingerprint: "f1", entry, config: config(), hasLedger: true, observed }).start.kind;
    const entry: LedgerView = { userId: "auth0|1", managed: true, fingerprint: "f1", profile: desired };
    expect(start(entry)).toBe("observed");
    expect(start({ ...entry, fingerprint: "f2" })).toBe("unchanged");
    expect(start({ ...entry, blockedAt: "2026-11-01T00:00:00Z" })).toBe("unchanged");
    expect(start(undefined)).toBe("unchanged");
    expect(start({ ...entry, userId: "auth0|2" })).toBe("unchanged");
  });
});
