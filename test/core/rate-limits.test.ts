import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../../functions/core/config.js";
import { consumerBudget, invocationSeconds } from "../../functions/core/budget.js";
import { AUTH0_PLANS, ENDPOINT_GROUPS, ORGANIZATION_GROUPS, ORGANIZATION_LIMITS, describeRateLimits, endpointGroupOf, resolveRateLimits } from "../../functions/core/rate-limits.js";
import { testConfig } from "../helpers/config.js";

function problems(raw: Record<string, unknown>): string[] {
  try {
    validateConfig({ name: "t", source: { workgroupName: "wg", database: "dev", sql: "SELECT 1" }, ...raw }, "t.yml");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the config to be rejected");
}

/** Auth0's Essentials/Professional limits page, group by group: the requests this sync makes, and where they fall. */
const DOCUMENTED: [string, string, (typeof ENDPOINT_GROUPS)[number]][] = [
  ["GET", "/api/v2/users-by-email?email=a%40example.com", "readUsers"],
  ["GET", "/api/v2/users/auth0%7C123", "readUsers"],
  ["GET", "/api/v2/users?q=x&per_page=50", "readUsers"],
  ["POST", "/api/v2/users", "writeUsers"],
  ["PATCH", "/api/v2/users/auth0%7C123", "writeUsers"],
  ["DELETE", "/api/v2/users/auth0%7C123", "deleteUsers"],
  ["GET", "/api/v2/users/auth0%7C123/roles?per_page=100", "other"],
  ["POST", "/api/v2/users/auth0%7C123/roles", "other"],
  ["DELETE", "/api/v2/users/auth0%7C123/roles", "other"],
  ["GET", "/api/v2/roles?per_page=100", "other"],
  ["POST", "/api/v2/roles/rol_1/users", "other"],
  ["GET", "/api/v2/roles/rol_1/users?take=100", "other"],
  ["POST", "/api/v2/tickets/password-change", "other"],
  ["POST", "/api/v2/jobs/users-exports", "other"],
  ["GET", "/api/v2/jobs/job_1", "other"],
  ["GET", "/api/v2/connections?name=db", "other"],
  // Organization members (a bucket of their own on every plan); an organization itself and a user's organizations are "other".
  ["GET", "/api/v2/organizations/org_1/members?per_page=50", "readOrgMembers"],
  ["GET", "/api/v2/organizations/org_1/members?fields=roles&from=abc&take=50", "readOrgMembers"],
  ["GET", "/api/v2/organizations/org_1/members/auth0%7C123/roles?per_page=50", "readOrgMembers"],
  ["POST", "/api/v2/organizations/org_1/members", "writeOrgMembers"],
  ["DELETE", "/api/v2/organizations/org_1/members", "writeOrgMembers"],
  ["POST", "/api/v2/organizations/org_1/members/auth0%7C123/roles", "writeOrgMemberRoles"],
  ["DELETE", "/api/v2/organizations/org_1/members/auth0%7C123/roles", "writeOrgMemberRoles"],
  ["GET", "/api/v2/organizations/name/acme", "other"],
  // The lookup of an organization called "members" is a lookup by name, not a members list.
  ["GET", "/api/v2/organizations/name/members", "other"],
  ["GET", "/api/v2/organizations/org_1", "other"],
  ["GET", "/api/v2/users/auth0%7C123/organizations?per_page=50", "other"],
];

describe("Auth0 endpoint groups and plans", () => {
  it.each(DOCUMENTED)("%s %s is in %s", (method, path, group) => {
    expect(endpointGroupOf(method, path)).toBe(group);
    expect(endpointGroupOf(method, `https://acme.eu.auth0.com${path}`)).toBe(group);
  });

  it("gives each plan its documented buckets", () => {
    const perMin = (n: number) => n / 60;
    // Organization members have buckets of their own on every plan (Auth0's rate-limit configuration pages).
    const orgBuckets = {
      readOrgMembers: { requestsPerSecond: perMin(500), burst: 40 },
      writeOrgMembers: { requestsPerSecond: perMin(200), burst: 20 },
      writeOrgMemberRoles: { requestsPerSecond: perMin(200), burst: 20 },
    };
    const orgGroups = { readOrgMembers: "readOrgMembers", writeOrgMembers: "writeOrgMembers", writeOrgMemberRoles: "writeOrgMemberRoles" };
    const orgNames = ["readOrgMembers", "writeOrgMembers", "writeOrgMemberRoles"];
    expect(resolveRateLimits({ plan: "professional" })).toEqual({
      buckets: {
        readUsers: { requestsPerSecond: perMin(500), burst: 40 },
        writeUsers: { requestsPerSecond: perMin(200), burst: 20 },
        deleteUsers: { requestsPerSecond: perMin(200), burst: 20 },
        other: { requestsPerSecond: perMin(150), burst: 10 },
        ...orgBuckets,
      },
      groupBucket: { readUsers: "readUsers", writeUsers: "writeUsers", deleteUsers: "deleteUsers", other: "other", ...orgGroups },
      tenantBuckets: ["readUsers", "writeUsers", "deleteUsers", "other", ...orgNames],
    });
    expect(resolveRateLimits({ plan: "essentials" })).toEqual(resolveRateLimits({ plan: "professional" }));
    // On a one-bucket plan the users groups and every other endpoint share "global"; organization members do not.
    const global = { readUsers: "global", writeUsers: "global", deleteUsers: "global", other: "global", ...orgGroups };
    const tenantBuckets = ["global", ...orgNames];
    expect(resolveRateLimits({ plan: "enterprise" })).toEqual({ buckets: { global: { requestsPerSecond: 16, burst: 50 }, ...orgBuckets }, groupBucket: global, tenantBuckets });
    expect(resolveRateLimits({ plan: "enterprise-nonprod" })).toEqual({ buckets: { global: { requestsPerSecond: 2, burst: 10 }, ...orgBuckets }, groupBucket: global, tenantBuckets });
    expect(resolveRateLimits({ plan: "free" })).toEqual({ buckets: { global: { requestsPerSecond: 2, burst: 2 }, ...orgBuckets }, groupBucket: global, tenantBuckets });
    // Neither plan nor budget: Enterprise production's global bucket, as before plans existed.
    expect(resolveRateLimits({})).toEqual(resolveRateLimits({ plan: "enterprise" }));
    // A global budget is the sync's own cap, not a bucket of Auth0's that the sync may fill when it has room; the
    // organization buckets stay Auth0's own (the budget does not cover them).
    expect(resolveRateLimits({ rateLimit: { requestsPerSecond: 30, burst: 40 } })).toEqual({
      buckets: { global: { requestsPerSecond: 30, burst: 40 }, ...orgBuckets },
      groupBucket: global,
      tenantBuckets: orgNames,
    });
    for (const plan of AUTH0_PLANS) expect(describeRateLimits({ plan })).toMatch(new RegExp(`^plan ${plan}: `));
    expect(describeRateLimits({ plan: "enterprise" })).toBe(
      "plan enterprise: all endpoints 16/s (burst 50), readOrgMembers 8.33/s (burst 40), writeOrgMembers 3.33/s (burst 20), writeOrgMemberRoles 3.33/s (burst 20)",
    );
  });

  it("gives the organization groups their own Auth0 buckets (ORGANIZATION_LIMITS) on every plan, with a global budget and by default", () => {
    expect([...ORGANIZATION_GROUPS]).toEqual(["readOrgMembers", "writeOrgMembers", "writeOrgMemberRoles"]);
    for (const g of ORGANIZATION_GROUPS) expect(ENDPOINT_GROUPS).toContain(g);
    const settings = [...AUTH0_PLANS.map((plan) => ({ plan })), {}, { rateLimit: { requestsPerSecond: 30, burst: 40 } }];
    for (const s of settings) {
      const what = JSON.stringify(s);
      const { buckets, groupBucket, tenantBuckets } = resolveRateLimits(s);
      for (const g of ORGANIZATION_GROUPS) {
        expect(groupBucket[g], `${what} ${g}`).toBe(g);
        expect(buckets[g], `${what} ${g}`).toEqual(ORGANIZATION_LIMITS[g]);
        // Auth0's own: what the tenant shows unused may be taken.
        expect(tenantBuckets, `${what} ${g}`).toContain(g);
        // No other group spends an organization bucket.
        expect(ENDPOINT_GROUPS.filter((o) => groupBucket[o] === g), `${what} ${g}`).toEqual([g]);
      }
    }
    // The documented figures: read 500 a minute (burst 40), writes 200 a minute (burst 20).
    expect(ORGANIZATION_LIMITS).toEqual({
      readOrgMembers: { requestsPerSecond: 500 / 60, burst: 40 },
      writeOrgMembers: { requestsPerSecond: 200 / 60, burst: 20 },
      writeOrgMemberRoles: { requestsPerSecond: 200 / 60, burst: 20 },
    });
    // Each resolution is a copy: changing one does not change the catalog.
    resolveRateLimits({ plan: "free" }).buckets.readOrgMembers!.burst = 1;
    expect(resolveRateLimits({ plan: "free" }).buckets.readOrgMembers).toEqual(ORGANIZATION_LIMITS.readOrgMembers);
  });

  it("lets a group be overridden: on a per-group plan it replaces the group's bucket (the emulator may also split a group off a global plan)", () => {
    const pro = resolveRateLimits({ plan: "professional", endpointGroups: { writeUsers: { requestsPerSecond: 2, burst: 10 } } });
    expect(pro.buckets.writeUsers).toEqual({ requestsPerSecond: 2, burst: 10 });
    expect(pro.buckets.other).toEqual({ requestsPerSecond: 2.5, burst: 10 });
    const ent = resolveRateLimits({ plan: "enterprise", endpointGroups: { other: { requestsPerSecond: 1, burst: 5 } } });
    const orgGroups = { readOrgMembers: "readOrgMembers", writeOrgMembers: "writeOrgMembers", writeOrgMemberRoles: "writeOrgMemberRoles" };
    expect(ent.groupBucket).toEqual({ readUsers: "global", writeUsers: "global", deleteUsers: "global", other: "other", ...orgGroups });
    expect(ent.buckets).toEqual({ global: { requestsPerSecond: 16, burst: 50 }, other: { requestsPerSecond: 1, burst: 5 }, ...ORGANIZATION_LIMITS });
  });

  it("lets an endpointGroups override replace an organization bucket, which is then the sync's cap rather than Auth0's", () => {
    for (const s of [{ plan: "professional" as const }, { plan: "enterprise" as const }, {}]) {
      const what = JSON.stringify(s);
      const limits = resolveRateLimits({ ...s, endpointGroups: { writeOrgMembers: { requestsPerSecond: 1, burst: 5 } } });
      expect(limits.buckets.writeOrgMembers, what).toEqual({ requestsPerSecond: 1, burst: 5 });
      expect(limits.groupBucket.writeOrgMembers, what).toBe("writeOrgMembers");
      expect(limits.tenantBuckets, what).not.toContain("writeOrgMembers");
      // The other organization buckets keep Auth0's figures, and stay Auth0's own.
      expect(limits.buckets.readOrgMembers, what).toEqual(ORGANIZATION_LIMITS.readOrgMembers);
      expect(limits.buckets.writeOrgMemberRoles, what).toEqual(ORGANIZATION_LIMITS.writeOrgMemberRoles);
      expect(limits.tenantBuckets, what).toEqual(expect.arrayContaining(["readOrgMembers", "writeOrgMemberRoles"]));
    }
  });

  it("shares every bucket between the consumer instances as the global budget was shared", () => {
    const pro = consumerBudget(testConfig({ auth0: { domain: "a.auth0.com", connection: "db", plan: "professional" } }));
    // The fastest bucket (read users, 8.3/s) needs two instances of at least 8/s... at most: ceil(8.3 / 8) = 2.
    expect(pro.maxConcurrency).toBe(2);
    expect(pro.buckets.writeUsers).toEqual({ rps: 200 / 60 / 2, burst: 10, ceiling: 200 / 60 });
    expect(pro.buckets.other).toEqual({ rps: 150 / 60 / 2, burst: 5, ceiling: 150 / 60 });
    const legacy = consumerBudget(testConfig({ auth0: { domain: "a.auth0.com", connection: "db", rateLimit: { requestsPerSecond: 50, burst: 50 } } }));
    expect(legacy).toMatchObject({ maxConcurrency: 7, buckets: { global: { rps: 50 / 7, burst: 7, ceiling: 50 / 7 } } });
  });

  it("checks an invocation's users against the slowest bucket of one instance", () => {
    const cfg = testConfig({ auth0: { domain: "a.auth0.com", connection: "db", plan: "professional" } });
    // 25 users: one create each in writeUsers (1.67/s) = 15 s; one role call each in other (1.25/s) = 20 s.
    expect(invocationSeconds(cfg, 25)).toEqual({ seconds: 20, bucket: "other", rps: 150 / 60 / 2 });
  });

  it("counts the organization groups in an invocation only when the config has organizations (member roles only with organizations.roles)", () => {
    const auth0 = { domain: "a.auth0.com", connection: "db" };
    const orgs = { column: "orgs" };
    const orgsWithRoles = { column: "orgs", roles: { column: "org_roles" } };
    // Enterprise: 25 users x 3 calls in global (8/s a consumer) = 10 s; 25 member-roles calls at 200/min / 2 = 15 s.
    const ent = { auth0: { ...auth0, plan: "enterprise" as const } };
    expect(invocationSeconds(testConfig(ent), 25)).toEqual({ seconds: 10, bucket: "global", rps: 8 });
    // Memberships: 2.5 calls (10 members a call) at 200/min / 2 = 2 s, under the global bucket's 10 s.
    expect(invocationSeconds(testConfig({ ...ent, organizations: orgs }), 25)).toEqual({ seconds: 10, bucket: "global", rps: 8 });
    expect(invocationSeconds(testConfig({ ...ent, organizations: orgsWithRoles }), 25)).toEqual({ seconds: 15, bucket: "writeOrgMemberRoles", rps: 200 / 60 / 2 });
    // Professional with slow organization buckets (exact binary rates): they count only when the config uses them.
    const slow = { auth0: { ...auth0, plan: "professional" as const, endpointGroups: { writeOrgMembers: { requestsPerSecond: 0.125, burst: 5 }, writeOrgMemberRoles: { requestsPerSecond: 1, burst: 5 }, readOrgMembers: { requestsPerSecond: 0.125, burst: 5 } } } };
    expect(invocationSeconds(testConfig(slow), 25)).toEqual({ seconds: 20, bucket: "other", rps: 150 / 60 / 2 });
    // 2.5 membership calls at 0.0625/s = 40 s; member roles not counted without organizations.roles.
    expect(invocationSeconds(testConfig({ ...slow, organizations: orgs }), 25)).toEqual({ seconds: 40, bucket: "writeOrgMembers", rps: 0.0625 });
    // 25 member-roles calls at 0.5/s = 50 s. Reading organization members costs a new user nothing.
    expect(invocationSeconds(testConfig({ ...slow, organizations: orgsWithRoles }), 25)).toEqual({ seconds: 50, bucket: "writeOrgMemberRoles", rps: 0.5 });
    // The config's timeout check sees the same: a member-roles bucket too slow for 25 users within 80% of 120 s
    // refuses the config only when it sets member roles.
    const tooSlow = { ...auth0, plan: "professional" as const, endpointGroups: { writeOrgMemberRoles: { requestsPerSecond: 0.5, burst: 5 } } };
    expect(testConfig({ auth0: tooSlow, organizations: orgs }).organizations).toBeDefined();
    expect(problems({ auth0: tooSlow, organizations: orgsWithRoles }).join("\n")).toMatch(/queue\.batchSize: .* 25 users need about 100 s .* of the writeOrgMemberRoles bucket/);
  });

  it("refuses a plan and a global budget together, and an unknown plan or group, naming the field", () => {
    const base = { auth0: { domain: "a.auth0.com", connection: "db" } };
    expect(problems({ ...base, auth0: { ...base.auth0, plan: "professional", rateLimit: { requestsPerSecond: 10, burst: 10 } } }).join("\n")).toMatch(
      /auth0\.rateLimit: give either auth0\.plan .* or auth0\.rateLimit .*, not both/,
    );
    expect(problems({ ...base, auth0: { ...base.auth0, plan: "gold" } }).join("\n")).toMatch(/auth0\.plan: expected 'free', 'essentials', 'professional', 'enterprise', 'enterprise-nonprod'/);
    expect(problems({ ...base, auth0: { ...base.auth0, plan: "professional", endpointGroups: { roles: { requestsPerSecond: 1, burst: 1 } } } }).join("\n")).toMatch(/auth0\.endpointGroups/);
    // A one-bucket plan has no group bucket to lower: an override there would add a bucket, not lower one.
    for (const auth0 of [{ plan: "enterprise" }, { plan: "free" }, {}, { rateLimit: { requestsPerSecond: 10, burst: 10 } }]) {
      expect(problems({ ...base, auth0: { ...base.auth0, ...auth0, endpointGroups: { writeUsers: { requestsPerSecond: 1, burst: 5 } } } }).join("\n")).toMatch(
        /auth0\.endpointGroups: .*one bucket for the whole Management API.*lower auth0\.rateLimit instead, or name a plan with per-group buckets \(essentials, professional\)/,
      );
    }
    expect(testConfig({ auth0: { domain: "a.auth0.com", connection: "db", plan: "essentials", endpointGroups: { writeUsers: { requestsPerSecond: 1, burst: 5 } } } }).auth0.endpointGroups).toBeDefined();
    // The organization groups have their own bucket on every plan: lowering one is accepted on a one-bucket plan too.
    for (const auth0 of [{ plan: "enterprise" as const }, { plan: "free" as const }, {}]) {
      expect(testConfig({ auth0: { domain: "a.auth0.com", connection: "db", ...auth0, endpointGroups: { writeOrgMembers: { requestsPerSecond: 1, burst: 5 } } } }).auth0.endpointGroups).toBeDefined();
    }
  });
});
