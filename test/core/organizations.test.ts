/**
 * Organizations in the core: a row's organizations and member roles parsed by the ProfileMapper, the membership diff
 * (diffOrganizations / organizationsChange) and the fingerprint, which must not move for syncs without organizations.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, fingerprint } from "../../functions/core/fingerprint.js";
import { diffOrganizations, organizationsChange, organizationsToCheck, type OrganizationChange } from "../../functions/core/membership-diff.js";
import { ProfileMapper } from "../../functions/core/profile.js";
import { rejectionMessage, type DesiredProfile, type Row } from "../../functions/core/types.js";
import { testConfig } from "../helpers/config.js";
import { reorder } from "../helpers/arbitraries.js";

const withRoles = new ProfileMapper(testConfig({ organizations: { column: "orgs", roles: { column: "org_roles" } } }));
const withoutRoles = new ProfileMapper(testConfig({ organizations: { column: "orgs" } }));
const byId = new ProfileMapper(testConfig({ organizations: { column: "orgs", by: "id" } }));

const row = (extra: Row = {}): Row => ({ id: "u-1", email: "ada@example.com", ...extra });

function orgsOf(r: Row, mapper = withRoles): Record<string, string[]> | undefined {
  const res = mapper.map(r, 1);
  if (!res.ok) throw new Error(`unexpected rejection: ${rejectionMessage(res.rejection)}`);
  return res.profile.organizations;
}

function rejected(r: Row, mapper = withRoles) {
  const res = mapper.map(r, 3);
  if (res.ok) throw new Error(`expected a rejection, got ${JSON.stringify(res.profile)}`);
  return { ...res.rejection, message: rejectionMessage(res.rejection) };
}

describe("organizations column -> desired organizations", () => {
  it("a single name", () => {
    expect(orgsOf(row({ orgs: "acme" }))).toEqual({ acme: [] });
    expect(orgsOf(row({ orgs: "  acme  " }))).toEqual({ acme: [] });
  });

  it("a comma list: trimmed, duplicates merged, blank items dropped", () => {
    expect(orgsOf(row({ orgs: " beta , acme,, acme ,  , " }))).toEqual({ acme: [], beta: [] });
  });

  it("a JSON array text", () => {
    expect(orgsOf(row({ orgs: ' ["beta", " acme ", "", "beta"] ' }))).toEqual({ acme: [], beta: [] });
  });

  it("an array value", () => {
    expect(orgsOf(row({ orgs: ["beta", "acme", " acme", ""] }))).toEqual({ acme: [], beta: [] });
  });

  it("null, empty, blank or absent -> no organizations ({}), not 'unmanaged' (undefined)", () => {
    for (const orgs of [null, undefined, "", "   ", [], "[]", " , ,"]) {
      expect(orgsOf(row({ orgs }))).toEqual({});
    }
    expect(orgsOf(row())).toEqual({});
  });

  it("is undefined when organizations are not configured", () => {
    const res = new ProfileMapper(testConfig()).map(row({ orgs: "acme" }));
    expect(res.ok && res.profile.organizations).toBeUndefined();
  });

  it("the organizations and roles columns never land in user_metadata", () => {
    const res = withRoles.map(row({ orgs: "acme", org_roles: "acme:admin", plan: "pro" }));
    expect(res.ok && res.profile.user_metadata).toEqual({ plan: "pro" });
  });

  it("anything but a list of names is refused with invalid_organizations naming the column", () => {
    for (const orgs of ["[broken", '["acme", 1]', 42, true, ["acme", 7]] as Row[string][]) {
      const r = rejected(row({ orgs }));
      expect(r.code).toBe("invalid_organizations");
      expect(r.field).toBe("orgs");
      expect(r.message).toMatch(/^row 3, key u-1: orgs: /);
    }
  });
});

describe("organizations by id", () => {
  it("accepts org_ ids", () => {
    expect(orgsOf(row({ orgs: "org_abc123, org_XYZ9" }), byId)).toEqual({ org_abc123: [], org_XYZ9: [] });
  });

  it("refuses a name with invalid_organizations, naming the column and the value", () => {
    for (const orgs of ["acme", "org_abc123, acme", ["acme"], "org_", "org_abc-123"]) {
      const r = rejected(row({ orgs }), byId);
      expect(r.code).toBe("invalid_organizations");
      expect(r.field).toBe("orgs");
    }
    const r = rejected(row({ orgs: "org_abc123, acme" }), byId);
    expect(r.message).toContain("orgs: ");
    expect(r.reason).toContain("'acme'");
    expect(r.reason).not.toContain("org_abc123'");
  });
});

describe("member roles column", () => {
  it("as JSON object text", () => {
    expect(orgsOf(row({ orgs: "acme, beta, gamma", org_roles: ' {"acme": ["viewer", "admin"], "beta": ["member"]} ' }))).toEqual({
      acme: ["admin", "viewer"],
      beta: ["member"],
      gamma: [],
    });
  });

  it("as an object value", () => {
    expect(orgsOf(row({ orgs: ["acme", "beta"], org_roles: { acme: ["viewer", "admin"], beta: [] } }))).toEqual({ acme: ["admin", "viewer"], beta: [] });
  });

  it("with a single string role", () => {
    expect(orgsOf(row({ orgs: "acme", org_roles: '{"acme": "admin"}' }))).toEqual({ acme: ["admin"] });
    expect(orgsOf(row({ orgs: "acme", org_roles: { acme: " admin " } }))).toEqual({ acme: ["admin"] });
  });

  it("as org:role pairs", () => {
    expect(orgsOf(row({ orgs: "acme, beta", org_roles: " acme:viewer, beta : member ,acme: admin, " }))).toEqual({ acme: ["admin", "viewer"], beta: ["member"] });
  });

  it("as org:role pairs where the organization's name contains ':' (the role follows the last one)", () => {
    expect(orgsOf(row({ orgs: "team:red, acme", org_roles: "team:red:lead, acme:admin, team:red:member" }))).toEqual({
      "team:red": ["lead", "member"],
      acme: ["admin"],
    });
  });

  it("roles are sorted and unique, blanks dropped", () => {
    expect(orgsOf(row({ orgs: "acme", org_roles: '{"acme": ["viewer", "admin", " viewer ", "admin", ""]}' }))).toEqual({ acme: ["admin", "viewer"] });
    expect(orgsOf(row({ orgs: "acme", org_roles: "acme:viewer, acme:admin, acme:viewer" }))).toEqual({ acme: ["admin", "viewer"] });
  });

  it("a blank roles column gives each organization no roles", () => {
    for (const org_roles of [null, "", "  ", undefined]) {
      expect(orgsOf(row({ orgs: "acme, beta", org_roles }))).toEqual({ acme: [], beta: [] });
    }
  });

  it("a role in an organization the row does not list is refused, naming the roles column and the organization", () => {
    for (const org_roles of ["beta:admin", "acme:admin, beta:admin", '{"beta": ["admin"]}', { beta: "admin" }] as Row[string][]) {
      const r = rejected(row({ orgs: "acme", org_roles }));
      expect(r.code).toBe("invalid_organizations");
      expect(r.field).toBe("org_roles");
      expect(r.reason).toContain("'beta'");
    }
    // Organizations are matched exactly: another case is another organization.
    expect(rejected(row({ orgs: "acme", org_roles: "ACME:admin" })).field).toBe("org_roles");
  });

  it("a role in an unlisted organization named like an Object.prototype member is refused the same way", () => {
    // Auth0 organization names are lower-case letters, digits, '-' and '_': 'constructor' is a valid one.
    const r = rejected(row({ orgs: "acme", org_roles: "constructor:admin" }));
    expect(r.code).toBe("invalid_organizations");
    expect(r.field).toBe("org_roles");
  });

  it("malformed roles are refused with invalid_organizations naming the roles column", () => {
    for (const org_roles of ["{broken", "admin", ":admin", '{"acme": [1]}', 5, ["acme:admin"]] as Row[string][]) {
      const r = rejected(row({ orgs: "acme", org_roles }));
      expect(r.code).toBe("invalid_organizations");
      expect(r.field).toBe("org_roles");
    }
  });

  it("without the roles column configured, each organization maps to no roles (the column is not read)", () => {
    expect(orgsOf(row({ orgs: "acme, beta", org_roles: "acme:admin, gamma:viewer" }), withoutRoles)).toEqual({ acme: [], beta: [] });
  });
});

describe("diffOrganizations", () => {
  const both = { removeUnlisted: true, roles: true };
  const keep = { removeUnlisted: false, roles: true };

  it("joins the missing organizations and leaves the unlisted ones only with removeUnlisted", () => {
    const desired = { acme: [], beta: [] };
    const applied = { beta: [], gamma: [], delta: [] };
    expect(diffOrganizations(desired, applied, both)).toEqual({ join: ["acme"], leave: ["delta", "gamma"], addRoles: [], removeRoles: [] });
    expect(diffOrganizations(desired, applied, keep)).toEqual({ join: ["acme"], leave: [], addRoles: [], removeRoles: [] });
  });

  it("joins and leaves are sorted", () => {
    const c = diffOrganizations({ zeta: [], alpha: [], mid: [] }, { yank: [], bravo: [] }, both);
    expect(c.join).toEqual(["alpha", "mid", "zeta"]);
    expect(c.leave).toEqual(["bravo", "yank"]);
  });

  it("adds missing member roles (also in an organization joined) and removes unlisted ones only with removeUnlisted", () => {
    const desired = { acme: ["admin", "viewer"], beta: ["member"] };
    const applied = { acme: ["viewer", "owner"] };
    expect(diffOrganizations(desired, applied, both)).toEqual({
      join: ["beta"],
      leave: [],
      addRoles: [
        { org: "acme", roles: ["admin"] },
        { org: "beta", roles: ["member"] },
      ],
      removeRoles: [{ org: "acme", roles: ["owner"] }],
    });
    expect(diffOrganizations(desired, applied, keep)).toEqual({
      join: ["beta"],
      leave: [],
      addRoles: [
        { org: "acme", roles: ["admin"] },
        { org: "beta", roles: ["member"] },
      ],
      removeRoles: [],
    });
  });

  it("leaving an organization does not also list its role removals", () => {
    const c = diffOrganizations({ acme: [] }, { acme: [], beta: ["admin", "viewer"] }, both);
    expect(c).toEqual({ join: [], leave: ["beta"], addRoles: [], removeRoles: [] });
  });

  it("roles: false ignores member roles on both sides", () => {
    const c = diffOrganizations({ acme: ["admin"], beta: ["x"] }, { acme: ["viewer"], gamma: ["y"] }, { removeUnlisted: true, roles: false });
    expect(c).toEqual({ join: ["beta"], leave: ["gamma"], addRoles: [], removeRoles: [] });
  });

  it("joins an organization named like an Object.prototype member ('constructor' is a valid Auth0 organization name)", () => {
    expect(diffOrganizations({ constructor: [] }, {}, { removeUnlisted: true, roles: false }).join).toEqual(["constructor"]);
    expect(diffOrganizations({ constructor: ["admin"] }, {}, both)).toEqual({ join: ["constructor"], leave: [], addRoles: [{ org: "constructor", roles: ["admin"] }], removeRoles: [] });
  });

  it("organizationsToCheck: with the memberships known, only what the change joins or changes roles in (and the roles it adds); with none known, everything listed", () => {
    const desired = { acme: ["admin"], beta: [], gamma: ["viewer"] };
    // Known: in acme as admin (unchanged), in gamma without its role, not in beta; in delta (left: not checked).
    expect(organizationsToCheck(desired, { acme: ["admin"], gamma: [], delta: [] }, both)).toEqual({ refs: ["beta", "gamma"], roleNames: ["viewer"] });
    expect(organizationsToCheck(desired, { acme: ["admin"], beta: [], gamma: ["viewer"] }, both)).toEqual({ refs: [], roleNames: [] });
    expect(organizationsToCheck(desired, {}, both)).toEqual({ refs: ["acme", "beta", "gamma"], roleNames: ["admin", "viewer"] });
    expect(organizationsToCheck(desired, undefined, both)).toEqual({ refs: ["acme", "beta", "gamma"], roleNames: ["admin", "viewer"] });
  });

  it("organizationsChange says whether anything is written", () => {
    const none: OrganizationChange = { join: [], leave: [], addRoles: [], removeRoles: [] };
    expect(organizationsChange(none)).toBe(false);
    expect(organizationsChange(diffOrganizations({ acme: ["a"] }, { acme: ["a"] }, both))).toBe(false);
    expect(organizationsChange(diffOrganizations({}, {}, both))).toBe(false);
    expect(organizationsChange(diffOrganizations({}, { acme: [] }, keep))).toBe(false);
    expect(organizationsChange({ ...none, join: ["a"] })).toBe(true);
    expect(organizationsChange({ ...none, leave: ["a"] })).toBe(true);
    expect(organizationsChange({ ...none, addRoles: [{ org: "a", roles: ["r"] }] })).toBe(true);
    expect(organizationsChange({ ...none, removeRoles: [{ org: "a", roles: ["r"] }] })).toBe(true);
    expect(organizationsChange(diffOrganizations({}, { acme: [] }, both))).toBe(true);
    expect(organizationsChange(diffOrganizations({ acme: ["a"] }, { acme: [] }, keep))).toBe(true);
  });

  describe("property: applying the change", () => {
    const orgName = fc.constantFrom("acme", "beta", "gamma", "delta", "org_1", "team:red");
    const roleName = fc.constantFrom("admin", "member", "viewer", "owner");
    const memberships = fc.dictionary(orgName, fc.uniqueArray(roleName, { maxLength: 4 }), { maxKeys: 5 });

    /** What the user holds after the change, as Auth0 would: a join adds a member without roles. */
    function applyChange(applied: Record<string, string[]>, c: OrganizationChange): Record<string, string[]> {
      const out = new Map(Object.entries(applied).map(([o, r]) => [o, new Set(r)]));
      for (const o of c.join) {
        expect(out.has(o)).toBe(false);
        out.set(o, new Set());
      }
      for (const { org, roles } of c.addRoles) {
        // Member roles are only written in an organization the user is (then) in.
        expect(out.has(org)).toBe(true);
        expect(roles.length).toBeGreaterThan(0);
        for (const r of roles) out.get(org)!.add(r);
      }
      for (const { org, roles } of c.removeRoles) {
        expect(out.has(org)).toBe(true);
        expect(roles.length).toBeGreaterThan(0);
        for (const r of roles) out.get(org)!.delete(r);
      }
      for (const o of c.leave) {
        expect(out.has(o)).toBe(true);
        out.delete(o);
      }
      return Object.fromEntries([...out].map(([o, r]) => [o, [...r].sort()]));
    }
    const sorted = (m: Record<string, string[]>) => Object.fromEntries(Object.entries(m).map(([o, r]) => [o, [...r].sort()]));

    it("with removeUnlisted gives exactly the desired organizations and roles", () => {
      fc.assert(
        fc.property(memberships, memberships, (desired, applied) => {
          expect(applyChange(applied, diffOrganizations(desired, applied, { removeUnlisted: true, roles: true }))).toEqual(sorted(desired));
        }),
      );
    });

    it("without removeUnlisted gives a superset: every desired organization and role, nothing taken away", () => {
      fc.assert(
        fc.property(memberships, memberships, (desired, applied) => {
          const c = diffOrganizations(desired, applied, { removeUnlisted: false, roles: true });
          expect(c.leave).toEqual([]);
          expect(c.removeRoles).toEqual([]);
          const after = applyChange(applied, c);
          expect(Object.keys(after).sort()).toEqual([...new Set([...Object.keys(desired), ...Object.keys(applied)])].sort());
          for (const [org, roles] of Object.entries(desired)) for (const r of roles) expect(after[org]).toContain(r);
          for (const [org, roles] of Object.entries(applied)) for (const r of roles) expect(after[org]).toContain(r);
        }),
      );
    });

    it("with roles: false the memberships match (exactly with removeUnlisted) and no role is written", () => {
      fc.assert(
        fc.property(memberships, memberships, fc.boolean(), (desired, applied, removeUnlisted) => {
          const c = diffOrganizations(desired, applied, { removeUnlisted, roles: false });
          expect(c.addRoles).toEqual([]);
          expect(c.removeRoles).toEqual([]);
          const keys = Object.keys(applyChange(applied, c)).sort();
          if (removeUnlisted) expect(keys).toEqual(Object.keys(desired).sort());
          else expect(keys).toEqual([...new Set([...Object.keys(desired), ...Object.keys(applied)])].sort());
        }),
      );
    });

    it("a second diff after applying the change writes nothing (with removeUnlisted)", () => {
      fc.assert(
        fc.property(memberships, memberships, (desired, applied) => {
          const opts = { removeUnlisted: true, roles: true };
          const after = applyChange(applied, diffOrganizations(desired, applied, opts));
          expect(organizationsChange(diffOrganizations(desired, after, opts))).toBe(false);
        }),
      );
    });
  });
});

describe("fingerprint with organizations", () => {
  const base: DesiredProfile = {
    key: "k1",
    email: "ada@example.com",
    fields: { given_name: "Ada" },
    user_metadata: { plan: "pro" },
    app_metadata: { sync_key: "k1" },
    createOnly: [],
  };

  it("a profile without organizations has the fingerprint it had before the feature", () => {
    // The material as it was hashed before organizations existed, written out in canonical (sorted-key) form.
    const before =
      '{"app_metadata":{"sync_key":"k1"},"createOnly":[],"email":"ada@example.com","fields":{"given_name":"Ada"},"key":"k1","roles":null,"user_metadata":{"plan":"pro"},"v":1}';
    const expected = createHash("sha256").update(before).digest("base64url");
    expect(fingerprint(base)).toBe(expected);
    expect(fingerprint({ ...base, organizations: undefined })).toBe(expected);
    const withRolesBefore =
      '{"app_metadata":{"sync_key":"k1"},"createOnly":[],"email":"ada@example.com","fields":{"given_name":"Ada"},"key":"k1","roles":["admin","viewer"],"user_metadata":{"plan":"pro"},"v":1}';
    expect(fingerprint({ ...base, roles: ["viewer", "admin"] })).toBe(createHash("sha256").update(withRolesBefore).digest("base64url"));
  });

  it("the key being absent or undefined makes no difference", () => {
    const absent: DesiredProfile = { ...base };
    expect("organizations" in absent).toBe(false);
    expect(fingerprint(absent)).toBe(fingerprint({ ...base, organizations: undefined }));
  });

  it("managing organizations changes it, even with none listed", () => {
    expect(fingerprint({ ...base, organizations: {} })).not.toBe(fingerprint(base));
  });

  it("any change in the organizations or in one member role changes it", () => {
    const orgs = { acme: ["admin", "viewer"], beta: [] as string[] };
    const fp = fingerprint({ ...base, organizations: orgs });
    const variants: Record<string, string[]>[] = [
      {},
      { acme: ["admin", "viewer"] },
      { beta: [] },
      { acme: ["admin", "viewer"], beta: [], gamma: [] },
      { acme: ["admin", "viewer"], gamma: [] },
      { acme: ["admin"], beta: [] },
      { acme: ["viewer"], beta: [] },
      { acme: ["admin", "owner"], beta: [] },
      { acme: ["admin", "viewer"], beta: ["member"] },
      { acme: [], beta: [] },
      { acme: ["admin", "viewer"], Beta: [] },
      { acme: [], beta: ["admin", "viewer"] },
    ];
    const seen = new Set([fp]);
    for (const v of variants) {
      const other = fingerprint({ ...base, organizations: v });
      expect(other).not.toBe(fp);
      seen.add(other);
    }
    expect(seen.size).toBe(variants.length + 1);
  });

  it("the order of organizations (keys) does not matter", () => {
    const a = fingerprint({ ...base, organizations: { acme: ["admin"], beta: [], gamma: ["x", "y"] } });
    expect(fingerprint({ ...base, organizations: { gamma: ["x", "y"], beta: [], acme: ["admin"] } })).toBe(a);
    expect(fingerprint(reorder({ ...base, organizations: { acme: ["admin"], beta: [], gamma: ["x", "y"] } }))).toBe(a);
  });

  it("equal rows in any column order give equal fingerprints; the mapper's role order does not leak into it", () => {
    const a = withRoles.map(row({ orgs: "beta, acme", org_roles: "acme:viewer, acme:admin" }));
    const b = withRoles.map(row({ org_roles: '{"acme": ["admin", "viewer"]}', orgs: ["acme", "beta"] }));
    if (!a.ok || !b.ok) throw new Error("unexpected rejection");
    expect(fingerprint(a.profile)).toBe(fingerprint(b.profile));
    expect(canonicalJson(a.profile.organizations)).toBe(canonicalJson({ acme: ["admin", "viewer"], beta: [] }));
  });
});
