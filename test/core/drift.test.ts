import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { knownOrganizations, startUser, type DecisionConfig, type LedgerView } from "../../functions/core/decide.js";
import { applyPatch, ownedKeys, writeFor } from "../../functions/core/write-plan.js";
import { judgeManaged, repairs, Seeds, type TenantUser } from "../../functions/core/drift.js";
import { maskEmail } from "../../functions/core/emails.js";
import { claimOf, isStaleSeed, RowClaims, seedObservation } from "../../functions/core/row-claims.js";
import type { DesiredProfile } from "../../functions/core/types.js";
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
        const op = writeFor({ desired, current: actual, mode: "upsert", previouslyOwned: ownedKeys(desired) });
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

  it("seeds a key a row claims; refreshes an earlier seed of the same user; a key the ledger knows is not the export's", () => {
    const user: TenantUser = { user_id: "auth0|1", email: "Ada@Example.com", app_metadata: { sync_key: "c-1" } };
    expect(new Seeds().seed("c-1", user)).toEqual({ kind: "seed", key: "c-1", userId: "auth0|1", adopted: true });
    // Seeded before with the same user: refreshed, not adopted again; a key the sync manages or applied is not seeded.
    const refreshed = new Seeds();
    expect(refreshed.seed("c-1", user, { userId: "auth0|1", managed: false })).toMatchObject({ kind: "seed", adopted: false });
    expect(refreshed.adopted).toBe(0);
    expect(new Seeds().seed("c-1", user, { userId: "auth0|9", managed: true })).toEqual({ kind: "known", key: "c-1" });
  });

  it("a key several Auth0 users are claimed for is ambiguous for the whole export, its first seed taken back; the same user twice is one seed", () => {
    const u = (id: string): TenantUser => ({ user_id: id, email: `${id}@example.com`, app_metadata: { sync_key: "c-1" } });
    const seeds = new Seeds();
    expect(seeds.seed("c-1", u("auth0|1"))).toMatchObject({ kind: "seed", adopted: true });
    expect(seeds.seed("c-2", { ...u("auth0|2"), app_metadata: { sync_key: "c-2" } })).toMatchObject({ kind: "seed" });
    // The second user: the ledger now holds the first one's seed (as the reconcile wrote it), never guessed between.
    expect(seeds.seed("c-1", u("auth0|3"), { userId: "auth0|1", managed: false })).toMatchObject({ kind: "ambiguous", key: "c-1" });
    // Once ambiguous, it stays so: a third user, and the first one met again, seed nothing.
    expect(seeds.seed("c-1", u("auth0|4")).kind).toBe("ambiguous");
    expect(seeds.seed("c-1", u("auth0|1")).kind).toBe("ambiguous");
    expect(seeds.ambiguousKeys()).toEqual(["c-1"]);
    expect(seeds.adopted).toBe(1);
    // The same user met twice (an export that repeats it) is one seed, not a second claimant.
    const again = new Seeds();
    again.seed("c-1", u("auth0|1"));
    expect(again.seed("c-1", u("auth0|1"), { userId: "auth0|1", managed: false })).toMatchObject({ kind: "seed" });
    expect(again.ambiguousKeys()).toEqual([]);
    expect(again.adopted).toBe(1);
  });

  it("a seed no row claims is stale (removed); an applied or managed entry never is; without the rows nothing is (issue 24, point 7)", () => {
    const claims = new RowClaims(true);
    claims.add({ key: "c-1", email: "ada@example.com", fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] });
    const observed: TenantUser = { user_id: "auth0|9", email: "outsider@example.org", app_metadata: { sync_key: "c-9" } };
    const seed = { key: "c-9", userId: "auth0|9", managed: false, observed };
    expect(isStaleSeed(seed, claims)).toBe(true);
    // Its key is a row's: a seed the next sync plans against.
    expect(isStaleSeed({ ...seed, key: "c-1" }, claims)).toBe(false);
    // A row was applied to it, or the sync manages it: the ledger's own, whatever the table says now.
    const profile = { key: "c-9", email: "outsider@example.org", fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] };
    expect(isStaleSeed({ ...seed, profile }, claims)).toBe(false);
    expect(isStaleSeed({ ...seed, managed: true }, claims)).toBe(false);
    // Not a seed at all (no observation): a create that was attempted, say.
    expect(isStaleSeed({ key: "c-9", managed: false, createAttemptedAt: "2026-11-01T00:00:00Z" }, claims)).toBe(false);
    // The table was not read: no key is known to be unclaimed.
    expect(isStaleSeed(seed, undefined)).toBe(false);
  });

  it("a user is claimed only by a row: by its sync key, or with none by its email; a key no row has is unclaimed (issue 24, point 7)", () => {
    const row = (key: string, email: string, organizations: Record<string, string[]> = {}): DesiredProfile => ({ key, email, fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [], organizations });
    const claims = new RowClaims(true);
    claims.add(row("c-1", "ada@example.com", { acme: [], globex: ["admin"] }));
    claims.add(row("c-2", "grace@example.com"));
    claims.add(row("c-3", "shared@example.com"));
    claims.add(row("c-4", "shared@example.com"));
    const user = (app_metadata: Record<string, string>, email = "someone@example.com"): TenantUser => ({ user_id: "auth0|1", email, app_metadata });
    expect(claimOf(user({ sync_key: "c-1" }), config(), claims)).toEqual({ kind: "row", key: "c-1", by: "key" });
    // A tenant copy's user, or one whose row left the table: its key is no row's, whatever its email.
    expect(claimOf(user({ sync_key: "c-9" }, "ada@example.com"), config(), claims)).toEqual({ kind: "unclaimed", key: "c-9" });
    expect(claimOf(user({}, "Grace@Example.com"), config(), claims)).toEqual({ kind: "row", key: "c-2", by: "email" });
    expect(claimOf(user({}), config(), claims)).toEqual({ kind: "unmatched" });
    expect(claimOf(user({}, "shared@example.com"), config(), claims)).toMatchObject({ kind: "ambiguous" });
    expect(claims.organizations()).toEqual(["acme", "globex"]);
    expect(claims.organizationsOf("c-1")).toEqual(["acme", "globex"]);
    expect(claims.organizationsOf("c-2")).toEqual([]);
    // With the email as identity, the key is the lower-cased email.
    const byEmail = { ...config(), identity: { emailColumn: "email", appMetadataKey: "sync_key" } } as DecisionConfig;
    const emails = new RowClaims(false);
    emails.add(row("ada@example.com", "ada@example.com"));
    expect(claimOf(user({}, "Ada@Example.com"), byEmail, emails)).toEqual({ kind: "row", key: "ada@example.com", by: "key" });
    expect(claimOf(user({ sync_key: "c-1" }, "bob@example.com"), byEmail, emails)).toEqual({ kind: "unclaimed", key: "bob@example.com" });
  });

  it("a seed knows its memberships in its row's organizations when all were read, and never leaves one it holds elsewhere (issue 24, point 6)", () => {
    const cfg = { ...config(), organizations: { column: "orgs", by: "name", removeUnlisted: true, roles: { column: "org_roles" } } } as DecisionConfig;
    const desired: DesiredProfile = { key: "c-1", email: "ada@example.com", fields: {}, user_metadata: {}, app_metadata: { sync_key: "c-1" }, createOnly: [], organizations: { acme: ["admin"], constructor: [] } };
    // Read: acme, constructor (a valid organization name) and globex; a member of acme (as viewer) and globex.
    const observed = seedObservation({ user_id: "auth0|1", email: "ada@example.com", app_metadata: { sync_key: "c-1" }, organizations: { acme: ["viewer"], globex: [], initech: [] } }, ["acme", "constructor", "globex"]);
    expect(observed).toMatchObject({ organizations: { acme: ["viewer"], globex: [] }, organizationsRead: ["acme", "constructor", "globex"] });
    const start = (o: typeof observed, d = desired) => startUser({ desired: d, fingerprint: "f", entry: { userId: "auth0|1", managed: false, observed: o }, config: cfg, hasLedger: true }).start;
    // Known: acme as viewer, not a member of constructor; globex is not the row's, so it is never left.
    expect(knownOrganizations(start(observed))).toEqual({ acme: ["viewer"] });
    // The row names an organization the reconcile did not read: Auth0 is read instead (nothing guessed).
    expect(knownOrganizations(start(observed, { ...desired, organizations: { acme: [], umbrella: [] } }))).toBeUndefined();
    // A seed written before reconciles recorded what they read: Auth0 is read, as before.
    expect(knownOrganizations(start({ ...observed, organizationsRead: undefined }))).toBeUndefined();
    expect(knownOrganizations(startUser({ desired, fingerprint: "f", config: cfg, hasLedger: true }).start)).toEqual({});
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
