import { describe, expect, it } from "vitest";
import { PacerSet } from "../../functions/adapters/auth0/pacers.js";
import { consumerBudget } from "../../functions/core/budget.js";
import { AUTH0_PLANS, ENDPOINT_GROUPS, type EndpointGroup, ORGANIZATION_GROUPS } from "../../functions/core/rate-limits.js";
import { testConfig } from "../helpers/config.js";
import { adapterFor, startEmulator } from "../helpers/emulator.js";

describe("Auth0 adapter: each request spends its endpoint group's bucket", () => {
  it.each(AUTH0_PLANS)("on the %s plan, the adapter's pacer and the tenant charge the same bucket for every call", async (plan) => {
    const config = testConfig({ auth0: { domain: "tenant.emulator.local", connection: "Username-Password-Authentication", plan } });
    const share = consumerBudget(config);
    // A generous local share, so the test is about routing, not waiting (the buckets keep their names).
    const pacers = PacerSet.fromShares({ ...share, buckets: Object.fromEntries(Object.keys(share.buckets).map((b) => [b, { rps: 500, burst: 500 }])) });
    const emu = await startEmulator({ limits: { plan }, roles: ["admin"], organizations: ["acme"] });
    const auth0 = adapterFor(emu, { pacer: pacers });
    const spent = () => Object.fromEntries([...pacers.byBucket].map(([name, p]) => [name, p.stats.acquired]));
    const calls: [EndpointGroup, () => Promise<unknown>][] = [];
    let userId = "";
    calls.push(["writeUsers", async () => (userId = (await auth0.create({ email: "a@example.com", app_metadata: { sync_key: "a" } })).user_id)]);
    calls.push(["readUsers", () => auth0.findByEmail("a@example.com")]);
    calls.push(["readUsers", () => auth0.getById(userId)]);
    calls.push(["writeUsers", () => auth0.patch(userId, { given_name: "Ann" })]);
    calls.push(["other", () => auth0.roleMap()]);
    calls.push(["other", () => auth0.assignRoles(userId, ["admin"])]);
    calls.push(["other", async () => auth0.assignRoleToUsers((await auth0.roleIds(["admin"]))[0]!, [userId])]);
    calls.push(["other", () => auth0.userRoles(userId)]);
    // Organizations: the organization itself and a user's organizations are "other"; members have buckets of their own.
    const orgs = auth0.organizations;
    let orgId = "";
    calls.push(["other", async () => (orgId = (await orgs.resolve(["acme"], "name"))[0]!)]);
    calls.push(["writeOrgMembers", () => orgs.addMembers(orgId, [userId])]);
    calls.push(["writeOrgMemberRoles", async () => orgs.assignMemberRoles(orgId, userId, await auth0.roleIds(["admin"]))]);
    calls.push(["readOrgMembers", async () => expect(await orgs.memberRoles(orgId, userId)).toEqual(["admin"])]);
    calls.push(["writeOrgMemberRoles", async () => orgs.removeMemberRoles(orgId, userId, await auth0.roleIds(["admin"]))]);
    calls.push(["other", async () => expect(await orgs.userOrganizations(userId)).toEqual([{ id: orgId, name: "acme" }])]);
    calls.push(["writeOrgMembers", () => orgs.removeMembers(orgId, [userId])]);
    calls.push(["deleteUsers", () => auth0.delete(userId)]);
    for (const [group, call] of calls) {
      const before = spent();
      emu.clearLog();
      await call();
      const after = spent();
      const bucket = pacers.bucketOf(group);
      // Only that bucket's pacer was spent (more than once only when the free plan's 2/s answered 429 first).
      const spentOn = Object.entries(after).filter(([b, n]) => n !== (before[b] ?? 0)).map(([b]) => b);
      expect({ group, spentOn }).toEqual({ group, spentOn: [bucket] });
      // The tenant (the emulator, from Auth0's documentation) charged the bucket of the same name.
      expect(new Set(emu.requestLog.filter((e) => e.route !== "/oauth/token").map((e) => e.bucket))).toEqual(new Set([bucket]));
    }
    expect(new Set(calls.map(([g]) => g))).toEqual(new Set(ENDPOINT_GROUPS));
    // The users groups and "other": one bucket each on Essentials/Professional, one for all on the other plans;
    // the organization groups have a bucket each on every plan.
    const buckets = new Set(ENDPOINT_GROUPS.map((g) => pacers.bucketOf(g)));
    expect(buckets.size).toBe((plan === "essentials" || plan === "professional" ? 4 : 1) + ORGANIZATION_GROUPS.length);
    for (const g of ORGANIZATION_GROUPS) expect(pacers.bucketOf(g)).toBe(g);
  });
});
