/**
 * membershipChangeFor never resolves an organization the change joins or changes member roles in: the consumer resolves
 * them before its first write (resolveOrganizations, against the same memberships), so an unknown organization
 * rejects the row before the user is touched. One missing at this point, after a create or a patch, is an internal
 * error, never a late lookup that could fail a user already written.
 */
import { describe, expect, it } from "vitest";
import type { Auth0Adapter } from "../../functions/adapters/auth0/client.js";
import type { SyncConfig } from "../../functions/core/config.js";
import { membershipChangeFor, resolveOrganizations } from "../../functions/flows/memberships.js";

type OrganizationsConfig = NonNullable<SyncConfig["organizations"]>;
const cfg = { column: "orgs", by: "name", removeUnlisted: false, roles: { column: "org_roles" } } as OrganizationsConfig;

/** An adapter that resolves organizations by name ("org_<name>") and roles, and counts the resolves. */
function fakeAuth0() {
  const resolves: string[][] = [];
  const auth0 = {
    organizations: {
      resolve: (refs: string[]) => {
        resolves.push([...refs]);
        return Promise.resolve(refs.map((r) => `org_${r}`));
      },
    },
    roleIds: (names: string[]) => Promise.resolve(names.map((n) => `rol_${n}`)),
  };
  return { auth0: auth0 as unknown as Auth0Adapter, resolves };
}

describe("membershipChangeFor: organizations are resolved before the first write", () => {
  it("plans with what resolveOrganizations resolved for the same memberships, with no further lookup", async () => {
    const { auth0, resolves } = fakeAuth0();
    const desired = { acme: ["admin"], globex: [] };
    const known = { acme: [] };
    const resolved = await resolveOrganizations(auth0, cfg, desired, known);
    expect(resolves).toEqual([["acme", "globex"]]);
    const plan = await membershipChangeFor(auth0, cfg, desired, known, "auth0|1", resolved);
    expect(plan).toMatchObject({ joinIds: ["org_globex"], leaveIds: [] });
    expect(plan.change.addRoles).toEqual([{ org: "acme", roles: ["admin"] }]);
    expect(resolves).toHaveLength(1);
  });

  it("an organization the change needs and nobody resolved is an internal error, not a late lookup", async () => {
    const { auth0, resolves } = fakeAuth0();
    // Resolved against memberships that knew acme, then planned for a user just created ({}): acme is missing.
    const resolved = await resolveOrganizations(auth0, cfg, { acme: [], globex: [] }, { acme: [] });
    await expect(membershipChangeFor(auth0, cfg, { acme: [], globex: [] }, {}, "auth0|1", resolved)).rejects.toThrow(
      /internal error: organizations acme are not resolved; they should have been resolved before the first write/,
    );
    expect(resolves).toEqual([["globex"]]);
  });
});
