/**
 * The core of the import path (functions/core/import-batches.ts): which configs import, what a user is in Auth0's
 * import file, packing into files under the size limit, a finished job's errors as each user's verdict, and the
 * start of a user an import created (core/decide.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { startUser } from "../../functions/core/decide.js";
import { fingerprint } from "../../functions/core/fingerprint.js";
import { bulkPolicy, importedUserId, importFileBytes, ImportPacker, importUserOf, importVerdicts, notImportable, type ImportEntry } from "../../functions/core/import-batches.js";
import type { SyncOperation } from "../../functions/core/operations.js";
import type { DesiredProfile } from "../../functions/core/types.js";
import { keyedDesiredArb } from "../helpers/arbitraries.js";
import { configProblems, testConfig } from "../helpers/config.js";

const op = (desired: DesiredProfile, row = 1): SyncOperation => ({ kind: "sync", row, keyLabel: desired.key, fingerprint: fingerprint(desired), desired });
const profile = (n: number, over: Partial<DesiredProfile> = {}): DesiredProfile => ({
  key: `c-${n}`,
  email: `user${n}@example.com`,
  fields: { given_name: `First${n}` },
  user_metadata: { plan: "pro" },
  app_metadata: { sync_key: `c-${n}` },
  createOnly: [],
  ...over,
});

describe("which runs import", () => {
  it("auto from bulkMinUsers, always from one user, off never; never for another connection, a verification email or mode update", () => {
    expect(bulkPolicy(testConfig())).toEqual({ kind: "bulk", minUsers: 1000 });
    expect(bulkPolicy(testConfig({ create: { bulk: "always" } }))).toEqual({ kind: "bulk", minUsers: 1 });
    expect(bulkPolicy(testConfig({ create: { bulk: "off" } })).kind).toBe("off");
    expect(bulkPolicy(testConfig({ create: { verifyEmail: true } })).kind).toBe("off");
    expect(bulkPolicy(testConfig({ mode: "update" })).kind).toBe("off");
    expect(bulkPolicy(testConfig({ auth0: { domain: "t.example.com", connection: "email", connectionType: "passwordless" } })).kind).toBe("off");
  });

  it("refuses always where Auth0 cannot import, by field path", () => {
    const base = { name: "t", source: { workgroupName: "wg", database: "dev", sql: "SELECT 1" }, auth0: { domain: "t.example.com", connection: "c" } };
    expect(configProblems({ ...base, auth0: { ...base.auth0, connectionType: "passwordless" }, create: { bulk: "always" } }).join("\n")).toMatch(/create\.bulk: Auth0 imports users only into a database connection/);
    expect(configProblems({ ...base, create: { bulk: "always", verifyEmail: true } }).join("\n")).toMatch(/create\.bulk: an import job sends no verification email/);
    expect(configProblems({ ...base, create: { bulk: "sometimes" } }).join("\n")).toMatch(/create\.bulk/);
  });
});

describe("the import file", () => {
  it("a user is what a per-user create sends, with the chosen id and email_verified false unless mapped; no password", () => {
    const u = importUserOf(profile(1), "0123456789abcdef01234567");
    expect(u).toEqual({ user_id: "0123456789abcdef01234567", email_verified: false, email: "user1@example.com", given_name: "First1", user_metadata: { plan: "pro" }, app_metadata: { sync_key: "c-1" } });
    expect(importUserOf(profile(2, { fields: { email_verified: true } }), "x").email_verified).toBe(true);
    expect(importedUserId("abc")).toBe("auth0|abc");
  });

  it("a phone number cannot be imported (Auth0's schema has none): that user is created one by one", () => {
    expect(notImportable(profile(1, { fields: { phone_number: "+4915112345678" } }))).toMatch(/phone_number/);
    expect(notImportable(profile(1, { fields: { phone_number: null } }))).toBeUndefined();
  });

  it("packs every user once, in order, into files of at most the limit", () => {
    fc.assert(
      fc.property(fc.array(keyedDesiredArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 600, max: 6000 }), (profiles, max) => {
        const packer = new ImportPacker(max);
        const files: ImportEntry[][] = [];
        profiles.forEach((p, i) => {
          const full = packer.add({ id: `id${i}`, op: op(p, i + 1) });
          if (full) files.push(full);
        });
        const last = packer.end();
        if (last) files.push(last);
        expect(files.flat().map((e) => e.id)).toEqual(profiles.map((_, i) => `id${i}`));
        for (const f of files) {
          const bytes = importFileBytes(f.map((e) => importUserOf(e.op.desired, e.id)));
          // A file over the limit holds one user alone (one user larger than a whole file).
          if (f.length > 1) expect(bytes).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});

describe("a finished job's errors, user by user", () => {
  const entries: ImportEntry[] = [1, 2, 3, 4, 5].map((n) => ({ id: `id${n}`, op: op(profile(n), n) }));

  it("no error: imported with its auth0| id; an existing email or user: the per-user way; FORMAT: rejected naming the row and field, never the value", () => {
    const v = importVerdicts(entries, [
      { user: { user_id: "id2", email: "user2@example.com" }, errors: [{ code: "CONFLICT_EMAIL", message: "The user already exists." }] },
      { user: { user_id: "auth0|id3" }, errors: [{ code: "DUPLICATED_USER", message: "The user already exists." }] },
      { user: { user_id: "id4" }, errors: [{ code: "FORMAT", message: "Object didn't pass validation for format email: user4@example", path: "email" }] },
      { user: { email: "USER5@example.com" }, errors: [{ code: "INVALID_TYPE", message: "Expected type string but found type integer", path: "identities[0].profileData.given_name" }] },
    ]);
    expect(v.get("id1")).toEqual({ kind: "imported", userId: "auth0|id1" });
    expect(v.get("id2")).toMatchObject({ kind: "per-user" });
    expect(v.get("id3")).toMatchObject({ kind: "per-user" });
    const r4 = v.get("id4");
    expect(r4).toMatchObject({ kind: "rejected", rejection: { row: 4, keyLabel: "c-4", field: "email", code: "auth0_rejected" } });
    expect(JSON.stringify(r4)).not.toContain("user4@example");
    expect(v.get("id5")).toMatchObject({ kind: "rejected", rejection: { row: 5, field: "given_name" } });
  });

  it("an unknown code goes the per-user way, whose create gives Auth0's own answer", () => {
    expect(importVerdicts(entries.slice(0, 1), [{ user: { user_id: "id1" }, errors: [{ code: "SOMETHING_NEW" }] }]).get("id1")).toMatchObject({ kind: "per-user" });
  });
});

describe("the start of a user an import created", () => {
  const config = testConfig({ roles: { column: "roles", removeUnlisted: true } });

  it("is planned from its own profile with no role and no membership yet, and found applied when delivered again", () => {
    const desired = profile(1, { roles: ["viewer"] });
    const fp = fingerprint(desired);
    const s = startUser({ desired, fingerprint: fp, entry: undefined, config, hasLedger: true, imported: "auth0|id1" });
    expect(s.start).toMatchObject({ kind: "ledger", current: { user_id: "auth0|id1", email: "user1@example.com", given_name: "First1" }, rolesKnown: [] });
    expect(s.rolesToCheck).toEqual(["viewer"]);
    const again = startUser({ desired, fingerprint: fp, entry: { userId: "auth0|id1", managed: true, fingerprint: fp, profile: desired }, config, hasLedger: true, imported: "auth0|id1" });
    expect(again.start).toEqual({ kind: "unchanged", userId: "auth0|id1" });
    // A ledger applied to another user (a repair re-creating a user deleted in Auth0): the new one is planned.
    const other = startUser({ desired, fingerprint: fp, entry: { userId: "auth0|gone", managed: true, fingerprint: fp, profile: desired }, config, hasLedger: true, imported: "auth0|id1" });
    expect(other.start).toMatchObject({ kind: "ledger", current: { user_id: "auth0|id1" } });
  });
});
