import { describe, expect, it } from "vitest";
import { ConfigError, consumerBudget, invocationSeconds, validateConfig } from "../../functions/core/config.js";
import { AUTH0_PLANS, ENDPOINT_GROUPS, describeRateLimits, endpointGroupOf, resolveRateLimits } from "../../functions/core/rate-limits.js";
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
];

describe("Auth0 endpoint groups and plans", () => {
  it.each(DOCUMENTED)("%s %s is in %s", (method, path, group) => {
    expect(endpointGroupOf(method, path)).toBe(group);
    expect(endpointGroupOf(method, `https://acme.eu.auth0.com${path}`)).toBe(group);
  });

  it("gives each plan its documented buckets", () => {
    const perMin = (n: number) => n / 60;
    expect(resolveRateLimits({ plan: "professional" })).toEqual({
      buckets: {
        readUsers: { requestsPerSecond: perMin(500), burst: 40 },
        writeUsers: { requestsPerSecond: perMin(200), burst: 20 },
        deleteUsers: { requestsPerSecond: perMin(200), burst: 20 },
        other: { requestsPerSecond: perMin(150), burst: 10 },
      },
      groupBucket: { readUsers: "readUsers", writeUsers: "writeUsers", deleteUsers: "deleteUsers", other: "other" },
      tenantBuckets: ["readUsers", "writeUsers", "deleteUsers", "other"],
    });
    expect(resolveRateLimits({ plan: "essentials" })).toEqual(resolveRateLimits({ plan: "professional" }));
    const global = { readUsers: "global", writeUsers: "global", deleteUsers: "global", other: "global" };
    const tenantBuckets = ["global"];
    expect(resolveRateLimits({ plan: "enterprise" })).toEqual({ buckets: { global: { requestsPerSecond: 16, burst: 50 } }, groupBucket: global, tenantBuckets });
    expect(resolveRateLimits({ plan: "enterprise-nonprod" })).toEqual({ buckets: { global: { requestsPerSecond: 2, burst: 10 } }, groupBucket: global, tenantBuckets });
    expect(resolveRateLimits({ plan: "free" })).toEqual({ buckets: { global: { requestsPerSecond: 2, burst: 2 } }, groupBucket: global, tenantBuckets });
    // Neither plan nor budget: Enterprise production's global bucket, as before plans existed.
    expect(resolveRateLimits({})).toEqual(resolveRateLimits({ plan: "enterprise" }));
    // A global budget is the sync's own cap, not a bucket of Auth0's that the sync may fill when it has room.
    expect(resolveRateLimits({ rateLimit: { requestsPerSecond: 30, burst: 40 } })).toMatchObject({ buckets: { global: { requestsPerSecond: 30, burst: 40 } }, tenantBuckets: [] });
    for (const plan of AUTH0_PLANS) expect(describeRateLimits({ plan })).toMatch(new RegExp(`^plan ${plan}: `));
  });

  it("lets a group be overridden: on a per-group plan it replaces the group's bucket (the emulator may also split a group off a global plan)", () => {
    const pro = resolveRateLimits({ plan: "professional", endpointGroups: { writeUsers: { requestsPerSecond: 2, burst: 10 } } });
    expect(pro.buckets.writeUsers).toEqual({ requestsPerSecond: 2, burst: 10 });
    expect(pro.buckets.other).toEqual({ requestsPerSecond: 2.5, burst: 10 });
    const ent = resolveRateLimits({ plan: "enterprise", endpointGroups: { other: { requestsPerSecond: 1, burst: 5 } } });
    expect(ent.groupBucket).toEqual({ readUsers: "global", writeUsers: "global", deleteUsers: "global", other: "other" });
    expect(ent.buckets).toEqual({ global: { requestsPerSecond: 16, burst: 50 }, other: { requestsPerSecond: 1, burst: 5 } });
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
  });
});
