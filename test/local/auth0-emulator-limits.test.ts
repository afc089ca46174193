import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ManagementError } from "auth0";
import { describe, expect, it } from "vitest";
import { AUTH0_PLANS, ENDPOINT_GROUPS, type EndpointGroup, endpointGroupOf, resolveRateLimits } from "../../functions/core/rate-limits.js";
import { Auth0Emulator, DEFAULT_CONNECTION, type TenantUser } from "../../local/auth0-emulator.js";
import { EMULATOR_ROUTES, groupOfRoute, routeOf } from "../../local/auth0-emulator-limits.js";
import { apiCall as call, importCall, sdkFor, startEmulator } from "../helpers/emulator.js";
import { rejection } from "../helpers/rejection.js";
import { tempDir } from "../helpers/tmp.js";

const PASSWORD = "Correct-Horse-9-Battery";

const newUser = (email: string) => ({ connection: DEFAULT_CONNECTION, email, password: PASSWORD });

function storedUser(id: string, roles: string[]): TenantUser {
  const at = new Date(0).toISOString();
  return { user_id: id, connection: DEFAULT_CONNECTION, email: `${id.split("|")[1]}@example.com`, email_verified: true, user_metadata: {}, app_metadata: {}, created_at: at, updated_at: at, hasPassword: true, roles };
}

const roleId = (emu: Auth0Emulator, name: string): string => emu.state().roles.find((r) => r.name === name)?.id ?? "";
const rolesOf = (emu: Auth0Emulator, userId: string): string[] => emu.state().users.find((u) => u.user_id === userId)?.roles ?? [];

/** The organization buckets every tenant has besides its plan's (Auth0's figures: core/rate-limits.ts ORGANIZATION_LIMITS), full. */
const ORG_LEVELS = { readOrgMembers: { limit: 40, remaining: 40 }, writeOrgMembers: { limit: 20, remaining: 20 }, writeOrgMemberRoles: { limit: 20, remaining: 20 } };

describe("Auth0 emulator: per-plan buckets", () => {
  it("charges each group's requests to the bucket the catalog gives it, on every plan, and reports that bucket", async () => {
    const emu = await startEmulator({ roles: ["member"] });
    const ada = (await (await call(emu, "POST", "/users", newUser("ada@example.com"))).json()) as { user_id: string };
    const id = encodeURIComponent(ada.user_id);
    const org = emu.addOrganization("acme");
    let n = 0;
    const requests: [EndpointGroup, string, string, unknown?][] = [
      ["readUsers", "GET", `/users/${id}`],
      ["readUsers", "GET", "/users-by-email?email=ada@example.com"],
      ["writeUsers", "POST", "/users", undefined],
      ["writeUsers", "PATCH", `/users/${id}`, { given_name: "Ada" }],
      ["deleteUsers", "DELETE", "/users/auth0%7Cnobody"],
      ["other", "GET", `/users/${id}/roles`],
      ["other", "GET", "/roles"],
      ["other", "POST", `/roles/${roleId(emu, "member")}/users`, { users: [ada.user_id] }],
      ["other", "GET", "/organizations/name/acme"],
      ["writeOrgMembers", "POST", `/organizations/${org}/members`, { members: [ada.user_id] }],
      ["writeOrgMemberRoles", "POST", `/organizations/${org}/members/${id}/roles`, { roles: [roleId(emu, "member")] }],
      ["readOrgMembers", "GET", `/organizations/${org}/members`],
      ["readOrgMembers", "GET", `/organizations/${org}/members/${id}/roles`],
      ["writeOrgMemberRoles", "DELETE", `/organizations/${org}/members/${id}/roles`, { roles: [roleId(emu, "member")] }],
      ["writeOrgMembers", "DELETE", `/organizations/${org}/members`, { members: [ada.user_id] }],
    ];
    expect(new Set(requests.map(([g]) => g))).toEqual(new Set(ENDPOINT_GROUPS));
    for (const plan of AUTH0_PLANS) {
      const { buckets, groupBucket } = resolveRateLimits({ plan });
      for (const [group, method, path, body] of requests) {
        emu.setLimits({ plan });
        emu.clearLog();
        const res = await call(emu, method, path, method === "POST" && path === "/users" ? newUser(`u${n++}@example.com`) : body);
        const name = groupBucket[group];
        const size = buckets[name]?.burst;
        const what = `${plan} ${method} ${path}`;
        expect(res.status, what).toBeLessThan(group === "deleteUsers" ? 500 : 300);
        expect(emu.requestLog.map((e) => e.bucket), what).toEqual([name]);
        expect(res.headers.get("x-ratelimit-limit"), what).toBe(String(size));
        expect(res.headers.get("x-ratelimit-remaining"), what).toBe(String((size ?? 0) - 1));
        // Only the charged bucket moved.
        const expected = Object.fromEntries(Object.entries(buckets).map(([b, l]) => [b, { limit: l.burst, remaining: b === name ? l.burst - 1 : l.burst }]));
        expect(emu.bucketLevels(), what).toEqual(expected);
      }
    }
  });

  it("reports Auth0's documented bucket sizes in x-ratelimit-limit (professional per group, enterprise 50 for all)", async () => {
    const emu = await startEmulator({ limits: { plan: "professional" } });
    const limitOf = async (method: string, path: string, body?: unknown) => (await call(emu, method, path, body)).headers.get("x-ratelimit-limit");
    expect(await limitOf("POST", "/users", newUser("a@example.com"))).toBe("20");
    expect(await limitOf("GET", "/users-by-email?email=a@example.com")).toBe("40");
    expect(await limitOf("DELETE", "/users/auth0%7Cx")).toBe("20");
    expect(await limitOf("GET", "/users/auth0%7Cx/roles")).toBe("10");
    // Organization members, on every plan: read 40, write members 20, write member roles 20.
    const org = emu.addOrganization("acme");
    const orgMembers = async () => {
      expect(await limitOf("GET", `/organizations/${org}/members`)).toBe("40");
      expect(await limitOf("GET", `/organizations/${org}/members/auth0%7Cx/roles`)).toBe("40");
      expect(await limitOf("POST", `/organizations/${org}/members`, { members: ["auth0|x"] })).toBe("20");
      expect(await limitOf("DELETE", `/organizations/${org}/members/auth0%7Cx/roles`, { roles: ["rol_x"] })).toBe("20");
    };
    await orgMembers();
    emu.setLimits({ plan: "enterprise" });
    for (const [m, p] of [["POST", "/users"], ["GET", "/users-by-email?email=a@example.com"], ["GET", "/users/auth0%7Cx/roles"], ["GET", "/roles"], ["GET", "/organizations/name/acme"]] as const) {
      expect(await limitOf(m, p, m === "POST" ? newUser("b@example.com") : undefined)).toBe("50");
    }
    await orgMembers();
    // One bucket for the users groups and every other endpoint; the organization members' buckets besides it.
    expect(Object.keys(emu.bucketLevels())).toEqual(["global", "readOrgMembers", "writeOrgMembers", "writeOrgMemberRoles"]);
  });

  it("keeps rate/burst and setRateLimit as one global bucket, 16/s burst 50 by default", async () => {
    const emu = await startEmulator();
    // The users groups and every other endpoint share one global bucket; organization members keep Auth0's own.
    expect(emu.bucketLevels()).toEqual({ global: { limit: 50, remaining: 50 }, ...ORG_LEVELS });
    emu.setRateLimit(5, 7);
    expect(emu.bucketLevels()).toEqual({ global: { limit: 7, remaining: 7 }, ...ORG_LEVELS });
    const custom = await startEmulator({ rate: 3, burst: 4 });
    expect((await call(custom, "GET", "/roles")).headers.get("x-ratelimit-limit")).toBe("4");
    expect(custom.requestLog.map((e) => `${e.route} ${e.bucket}`)).toEqual(["/oauth/token oauth-token", "/api/v2/roles global"]);
  });

  it("on professional, a drained 'other' bucket answers 429 while user writes and reads go on", async () => {
    const emu = await startEmulator({ limits: { plan: "professional" } });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 11; i++) {
      last = await call(emu, "GET", "/roles");
      statuses.push(last.status);
    }
    expect(statuses).toEqual([...Array<number>(10).fill(200), 429]);
    expect(await last!.json()).toEqual({ statusCode: 429, error: "Too Many Requests", message: "Global limit has been reached", errorCode: "too_many_requests" });
    expect(last!.headers.get("x-ratelimit-limit")).toBe("10");
    expect(last!.headers.get("x-ratelimit-remaining")).toBe("0");
    const created = await call(emu, "POST", "/users", newUser("ada@example.com"));
    expect(created.status).toBe(201);
    expect(created.headers.get("x-ratelimit-remaining")).toBe("19");
    expect((await call(emu, "GET", "/users-by-email?email=ada@example.com")).status).toBe(200);
    expect(emu.bucketLevels()).toMatchObject({ other: { limit: 10, remaining: 0 }, writeUsers: { remaining: 19 }, readUsers: { remaining: 39 }, deleteUsers: { remaining: 20 } });
  });

  it("agrees with the product's endpointGroupOf on every route it serves (cross-check)", async () => {
    const emu = await startEmulator({ roles: ["member"], limits: { plan: "professional" } });
    const ada = (await (await call(emu, "POST", "/users", newUser("ada@example.com"))).json()) as { user_id: string };
    const id = encodeURIComponent(ada.user_id);
    const role = roleId(emu, "member");
    const org = emu.addOrganization("acme");
    let jobId = "";
    // One concrete request per served route, each answered with success.
    const served: [string, string | (() => string), unknown?][] = [
      ["POST", "/users", newUser("bob@example.com")],
      ["GET", "/users-by-email?email=ada@example.com"],
      ["GET", `/users/${id}`],
      ["PATCH", `/users/${id}`, { given_name: "Ada" }],
      ["GET", `/users/${id}/roles?per_page=10`],
      ["POST", `/users/${id}/roles`, { roles: [role] }],
      ["DELETE", `/users/${id}/roles`, { roles: [role] }],
      ["GET", "/roles?name_filter=mem"],
      ["GET", `/roles/${role}/users`],
      ["POST", `/roles/${role}/users`, { users: [ada.user_id] }],
      ["GET", "/connections"],
      ["POST", "/jobs/users-exports", { format: "json" }],
      ["GET", () => `/jobs/${jobId}`],
      ["GET", () => `/jobs/${jobId}/errors`],
      ["POST", "/jobs/users-imports", [{ email: "imported@example.com" }]],
      ["POST", "/tickets/password-change", { user_id: ada.user_id }],
      ["GET", "/organizations/name/acme"],
      ["GET", `/organizations/${org}`],
      ["POST", `/organizations/${org}/members`, { members: [ada.user_id] }],
      ["GET", `/organizations/${org}/members?per_page=10`],
      ["POST", `/organizations/${org}/members/${id}/roles`, { roles: [role] }],
      ["GET", `/organizations/${org}/members/${id}/roles`],
      ["DELETE", `/organizations/${org}/members/${id}/roles`, { roles: [role] }],
      ["GET", `/users/${id}/organizations`],
      ["GET", "/logs?per_page=5"],
      ["DELETE", `/organizations/${org}/members`, { members: [ada.user_id] }],
      ["DELETE", `/users/${id}`],
    ];
    const { groupBucket } = resolveRateLimits({ plan: "professional" });
    const seen: string[] = [];
    for (const [method, at, body] of served) {
      const path = typeof at === "string" ? at : at();
      emu.setLimits({ plan: "professional" });
      emu.clearLog();
      // The import takes multipart/form-data, which `call` (JSON) cannot send.
      const res = path === "/jobs/users-imports" ? await importCall(emu, body, { send_completion_email: "false" }) : await call(emu, method, path, body);
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
      if (path === "/jobs/users-exports") jobId = ((await res.json()) as { id: string }).id;
      const entry = emu.requestLog[0];
      const product = endpointGroupOf(method, `/api/v2${path}`);
      expect(groupOfRoute(method, entry?.route ?? ""), `${method} ${path}`).toBe(product);
      expect(entry?.bucket, `${method} ${path}`).toBe(groupBucket[product]);
      seen.push(`${method} ${entry?.route}`);
    }
    // A route added to the emulator without a request here fails this.
    expect(seen.sort()).toEqual([...EMULATOR_ROUTES].sort());
    // The users search is not emulated, but Auth0 counts it as reading users, as the product does.
    expect(groupOfRoute("GET", routeOf("/api/v2/users"))).toBe(endpointGroupOf("GET", "/api/v2/users?q=x"));
    expect(groupOfRoute("GET", routeOf("/api/v2/users"))).toBe("readUsers");
    // An unknown route is refused as Auth0 does, and charged to "other" on both sides.
    emu.clearLog();
    const unknown = await call(emu, "GET", `/roles/${role}/permissions`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ statusCode: 404, error: "Not Found", message: "Not Found" });
    expect(emu.requestLog[0]?.bucket).toBe(groupBucket[endpointGroupOf("GET", `/api/v2/roles/${role}/permissions`)]);
  });
});

describe("Auth0 emulator: a competing client", () => {
  it("takes about N tokens a second from the bucket and stays out of the request log", async () => {
    // On the global bucket only (by default it would draw on the organization buckets as well).
    const emu = await startEmulator({ rate: 1, burst: 200, competitor: { requestsPerSecond: 25, bucket: "global" } });
    const t0 = Date.now();
    expect((await call(emu, "GET", "/roles")).status).toBe(200);
    await sleep(2000);
    expect((await call(emu, "GET", "/roles")).status).toBe(200);
    // Read together: the competitor's timer cannot run between these synchronous calls.
    const stats = emu.competitorStats();
    const remaining = emu.bucketLevels().global?.remaining ?? 0;
    const elapsed = (Date.now() - t0) / 1000;
    expect(stats.admitted).toBeGreaterThanOrEqual(0.7 * 25 * elapsed);
    expect(stats.admitted).toBeLessThanOrEqual(1.1 * 25 * elapsed);
    expect(stats).toEqual({ attempted: stats.admitted, admitted: stats.admitted, refused: 0 });
    // The bucket holds what its refill left after both clients' requests.
    expect(remaining).toBeGreaterThanOrEqual(200 - stats.admitted - 2);
    expect(remaining).toBeLessThanOrEqual(200 - stats.admitted - 2 + Math.ceil(elapsed));
    expect(emu.requestLog.map((e) => `${e.method} ${e.route} ${e.status}`)).toEqual(["POST /oauth/token 200", "GET /api/v2/roles 200", "GET /api/v2/roles 200"]);
    expect(emu.counters().total).toBe(3);
    // The buckets it does not compete for are untouched.
    const { global: _global, ...others } = emu.bucketLevels();
    expect(others).toEqual(ORG_LEVELS);
  });

  it("competes for one named bucket only, and is refused once that bucket is empty", async () => {
    // Professional's buckets, with a slow refill of "other" so that it stays empty once drained.
    const emu = await startEmulator({ limits: { plan: "professional", endpointGroups: { other: { requestsPerSecond: 0.1, burst: 10 } } } });
    expect(() => emu.setCompetitor({ requestsPerSecond: 10, bucket: "global" })).toThrow(/no bucket named global/);
    emu.setCompetitor({ requestsPerSecond: 100, bucket: "other" });
    await sleep(400);
    const stats = emu.competitorStats();
    expect(stats.refused).toBeGreaterThan(0);
    expect(stats.admitted).toBe(10);
    expect(stats.attempted).toBe(stats.admitted + stats.refused);
    expect((await call(emu, "GET", "/roles")).status).toBe(429);
    expect((await call(emu, "POST", "/users", newUser("ada@example.com"))).status).toBe(201);
    expect(emu.bucketLevels()).toMatchObject({ writeUsers: { remaining: 19 }, readUsers: { remaining: 40 }, deleteUsers: { remaining: 20 }, ...ORG_LEVELS });
    emu.setCompetitor(undefined);
    const frozen = emu.competitorStats();
    await sleep(100);
    expect(emu.competitorStats()).toEqual(frozen);
  });

  it("starts after startAfterMs, stops after durationMs, and by default draws on every bucket", async () => {
    // Every group's bucket large (the organization groups' too), so that no attempt is refused.
    const large = Object.fromEntries(ENDPOINT_GROUPS.map((g) => [g, { requestsPerSecond: 1, burst: 1000 }]));
    const emu = await startEmulator({ limits: { plan: "professional", endpointGroups: large } });
    // Professional: the four users-and-other buckets and the three organization members' buckets.
    expect(Object.keys(emu.bucketLevels()).sort()).toEqual([...ENDPOINT_GROUPS].sort());
    emu.setCompetitor({ requestsPerSecond: 50, startAfterMs: 300, durationMs: 400 });
    await sleep(200);
    expect(emu.competitorStats().attempted).toBe(0);
    await sleep(700);
    const { attempted, refused } = emu.competitorStats();
    // 7 buckets, 50 a second each, for 0.4 s.
    const expected = ENDPOINT_GROUPS.length * 50 * 0.4;
    expect(expected).toBe(140);
    expect(attempted).toBeGreaterThanOrEqual(0.7 * expected);
    expect(attempted).toBeLessThanOrEqual(1.1 * expected);
    expect(refused).toBe(0);
    for (const level of Object.values(emu.bucketLevels())) expect(level.remaining).toBeLessThan(1000 - 10);
    await sleep(100);
    expect(emu.competitorStats().attempted).toBe(attempted);
    expect(emu.requestLog).toEqual([]);
  });
});

describe("Auth0 emulator: POST /roles/{id}/users", () => {
  async function tenant(opts: { maxRoleUsersPerRequest?: number } = {}) {
    const emu = await startEmulator({ roles: ["member", "other"], ...opts });
    const full = Array.from({ length: 50 }, (_, i) => `role${i}`);
    emu.load({ ...emu.state(), users: [storedUser("auth0|ada", []), storedUser("auth0|bob", ["other"]), storedUser("auth0|cy", []), storedUser("auth0|full", full)] });
    return { emu, member: roleId(emu, "member"), sdk: sdkFor(emu) };
  }

  it("assigns a role to several users (200, no content), as the SDK expects; their roles then list it", async () => {
    const { emu, member, sdk } = await tenant();
    const answer = await sdk.roles.users.assign(member, { users: ["auth0|ada", "auth0|bob"] }).withRawResponse();
    expect(answer.rawResponse.status).toBe(200);
    expect(answer.data).toBeUndefined();
    expect((await sdk.users.roles.list("auth0|ada")).data.map((r) => r.name)).toEqual(["member"]);
    expect((await sdk.users.roles.list("auth0|bob")).data.map((r) => r.name).sort()).toEqual(["member", "other"]);
    const raw = await call(emu, "POST", `/roles/${member}/users`, { users: ["auth0|ada", "auth0|cy", "auth0|cy"] });
    expect(raw.status).toBe(200);
    expect(await raw.text()).toBe("");
    expect(rolesOf(emu, "auth0|ada")).toEqual(["member"]); // already had it: not an error
    expect(rolesOf(emu, "auth0|cy")).toEqual(["member"]);
    expect(emu.requestLog.filter((e) => e.route === "/api/v2/roles/:id/users").map((e) => [e.method, e.status, e.bucket])).toEqual([
      ["POST", 200, "global"],
      ["POST", 200, "global"],
    ]);
  });

  it("applies nothing when a user does not exist, or would pass the per-user role limit", async () => {
    const { emu, member, sdk } = await tenant();
    const before = emu.state();
    const unknown = await rejection(sdk.roles.users.assign(member, { users: ["auth0|ada", "auth0|nobody"] }), ManagementError);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toEqual({ statusCode: 404, error: "Not Found", message: "The user does not exist.", errorCode: "inexistent_user" });
    const tooMany = await call(emu, "POST", `/roles/${member}/users`, { users: ["auth0|ada", "auth0|full"] });
    expect(tooMany.status).toBe(400);
    const single = await call(emu, "POST", "/users/auth0%7Cfull/roles", { roles: [member] });
    expect(single.status).toBe(400);
    expect(await tooMany.json()).toEqual(await single.json());
    expect(emu.state()).toEqual(before);
    // A role the full user already has changes nothing for it, so is not past the limit.
    expect((await call(emu, "POST", `/roles/${roleId(emu, "role0")}/users`, { users: ["auth0|full", "auth0|ada"] })).status).toBe(200);
    expect(rolesOf(emu, "auth0|ada")).toEqual(["role0"]);
  });

  it("answers 404 for an unknown role and 400 invalid_body for a bad body", async () => {
    const { emu, member, sdk } = await tenant();
    const noRole = await rejection(sdk.roles.users.assign("rol_doesnotexist", { users: ["auth0|ada"] }), ManagementError);
    expect(noRole.statusCode).toBe(404);
    expect(noRole.body).toEqual({ statusCode: 404, error: "Not Found", message: "The role does not exist.", errorCode: "inexistent_role" });
    for (const body of [{}, { users: [] }, { users: "auth0|ada" }, { users: ["auth0|ada", 7] }, { users: ["auth0|ada"], extra: true }, ["auth0|ada"]]) {
      const res = await call(emu, "POST", `/roles/${member}/users`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toMatchObject({ statusCode: 400, error: "Bad Request", message: expect.stringMatching(/^Payload validation error: /), errorCode: "invalid_body" });
    }
    expect(rolesOf(emu, "auth0|ada")).toEqual([]);
  });

  it("enforces maxRoleUsersPerRequest when set", async () => {
    const { emu, member } = await tenant({ maxRoleUsersPerRequest: 2 });
    const over = await call(emu, "POST", `/roles/${member}/users`, { users: ["auth0|ada", "auth0|bob", "auth0|cy"] });
    expect(over.status).toBe(400);
    expect(await over.json()).toMatchObject({ message: expect.stringMatching(/^Payload validation error: 'Too many items \(3\), maximum 2'/), errorCode: "invalid_body" });
    expect(rolesOf(emu, "auth0|ada")).toEqual([]);
    expect((await call(emu, "POST", `/roles/${member}/users`, { users: ["auth0|ada", "auth0|bob"] })).status).toBe(200);
  });

  it("journals the assignments, so a tenant bound to a state file keeps them", async () => {
    const file = join(tempDir(), "tenant.json");
    const { emu, member } = await tenant();
    emu.persistTo(file);
    expect((await call(emu, "POST", `/roles/${member}/users`, { users: ["auth0|ada", "auth0|cy"] })).status).toBe(200);
    const again = new Auth0Emulator();
    again.persistTo(file);
    expect(again.state().users.filter((u) => u.roles.includes("member")).map((u) => u.user_id).sort()).toEqual(["auth0|ada", "auth0|cy"]);
  });
});
