import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ManagementError } from "auth0";
import { OrganizationsClient } from "auth0/organizations";
import { UsersClient } from "auth0/users";
import { describe, expect, it } from "vitest";
import { endpointGroupOf, resolveRateLimits } from "../../functions/core/rate-limits.js";
import { Auth0Emulator, journalFileOf, type TenantState, type TenantUser } from "../../local/auth0-emulator.js";
import { apiCall as call, sdkFor, startEmulator, storedUser } from "../helpers/emulator.js";
import { rejection } from "../helpers/rejection.js";
import { tempDir } from "../helpers/tmp.js";


const json = async (res: Response): Promise<unknown> => res.json();

const tenantUser = (i: number): TenantUser => storedUser("u", String(i).padStart(2, "0"), i);

const USERS = 30;
const uid = (i: number) => `auth0|u${String(i).padStart(2, "0")}`;
const enc = encodeURIComponent;

/** A tenant with USERS users, roles admin and viewer, organizations acme and globex (no members yet). */
async function tenant(): Promise<{ emu: Auth0Emulator; acme: string; globex: string; admin: string; viewer: string }> {
  const emu = await startEmulator({ roles: ["admin", "viewer"], organizations: ["acme", "globex"] });
  emu.load({ ...emu.state(), users: Array.from({ length: USERS }, (_, i) => tenantUser(i)) });
  const roleId = (name: string) => emu.state().roles.find((r) => r.name === name)?.id ?? "";
  return { emu, acme: emu.addOrganization("acme"), globex: emu.addOrganization("globex"), admin: roleId("admin"), viewer: roleId("viewer") };
}

const badBody = { statusCode: 400, error: "Bad Request", message: expect.stringMatching(/^Payload validation error: /), errorCode: "invalid_body" };
const noOrg = { statusCode: 404, error: "Not Found", message: "No organization found by that id or name", errorCode: "inexistent_organization" };

describe("Auth0 emulator: organizations", () => {
  it("finds an organization by name and by id, and answers 404 for an absent one", async () => {
    const { emu, acme } = await tenant();
    expect(acme).toMatch(/^org_[A-Za-z0-9]{16}$/);
    const byName = await call(emu, "GET", "/organizations/name/acme");
    expect(byName.status).toBe(200);
    expect(await byName.json()).toEqual({ id: acme, name: "acme", display_name: "acme" });
    expect(await json(await call(emu, "GET", `/organizations/${acme}`))).toEqual({ id: acme, name: "acme", display_name: "acme" });
    for (const path of ["/organizations/name/nope", "/organizations/org_0000000000000000"]) {
      const res = await call(emu, "GET", path);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual(noOrg);
    }
    // addOrganization: an existing name keeps its id; names follow Auth0's rule; a display name may be given.
    expect(emu.addOrganization("acme", "Other")).toBe(acme);
    expect(() => emu.addOrganization("Acme Corp")).toThrow(/invalid organization name/);
    expect(() => emu.addOrganization("x".repeat(51))).toThrow(/invalid organization name/);
    const initech = emu.addOrganization("initech", "Initech Corp.");
    expect(await json(await call(emu, "GET", "/organizations/name/initech"))).toEqual({ id: initech, name: "initech", display_name: "Initech Corp." });
  });

  it("adds up to 10 members in one call (204); 11 is refused with 400 invalid_body and nothing applied", async () => {
    const { emu, acme, globex } = await tenant();
    const ten = Array.from({ length: 10 }, (_, i) => uid(i));
    const added = await call(emu, "POST", `/organizations/${acme}/members`, { members: ten });
    expect(added.status).toBe(204);
    expect(await added.text()).toBe("");
    expect(emu.organizationMembers("acme")).toEqual(ten);
    // Already members: no error, nothing changes.
    expect((await call(emu, "POST", `/organizations/${acme}/members`, { members: [uid(0), uid(0), uid(1)] })).status).toBe(204);
    expect(emu.organizationMembers("acme")).toEqual(ten);

    const before = emu.state();
    const eleven = await call(emu, "POST", `/organizations/${globex}/members`, { members: Array.from({ length: 11 }, (_, i) => uid(i)) });
    expect(eleven.status).toBe(400);
    expect(await eleven.json()).toEqual({ statusCode: 400, error: "Bad Request", message: "Payload validation error: 'Array is too long (11), maximum 10' on property members.", errorCode: "invalid_body" });
    for (const body of [{}, { members: [] }, { members: uid(0) }, { members: [uid(0), 7] }, { members: [""] }]) {
      const res = await call(emu, "POST", `/organizations/${globex}/members`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toEqual(badBody);
    }
    expect(emu.state()).toEqual(before);
    expect(emu.organizationMembers("globex")).toEqual([]);
    // The reference's schema allows additional properties on this body.
    expect((await call(emu, "POST", `/organizations/${globex}/members`, { members: [uid(0)], note: "x" })).status).toBe(204);

    const unknownOrg = await call(emu, "POST", "/organizations/org_0000000000000000/members", { members: [uid(0)] });
    expect(unknownOrg.status).toBe(404);
    expect(await unknownOrg.json()).toEqual(noOrg);
  });

  it("adds all or nothing: an unknown user fails the call with a 400 naming it, and no one is added", async () => {
    const { emu, acme } = await tenant();
    const res = await call(emu, "POST", `/organizations/${acme}/members`, { members: [uid(0), "auth0|nobody", uid(1), "auth0|ghost"] });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ statusCode: 400, error: "Bad Request", message: "The users auth0|nobody, auth0|ghost do not exist.", errorCode: "invalid_body" });
    expect(emu.organizationMembers("acme")).toEqual([]);
    const one = (await json(await call(emu, "POST", `/organizations/${acme}/members`, { members: ["auth0|nobody"] }))) as { message: string };
    expect(one.message).toBe("The user auth0|nobody does not exist.");
  });

  it("removes members (204); removing a non-member is no error; at most 10 a call", async () => {
    const { emu, acme } = await tenant();
    await call(emu, "POST", `/organizations/${acme}/members`, { members: [uid(0), uid(1), uid(2)] });
    const removed = await call(emu, "DELETE", `/organizations/${acme}/members`, { members: [uid(1), uid(5), "auth0|nobody"] });
    expect(removed.status).toBe(204);
    expect(emu.organizationMembers("acme")).toEqual([uid(0), uid(2)]);
    const eleven = await call(emu, "DELETE", `/organizations/${acme}/members`, { members: Array.from({ length: 11 }, (_, i) => uid(i)) });
    expect(eleven.status).toBe(400);
    expect(await eleven.json()).toEqual(badBody);
    expect((await call(emu, "DELETE", `/organizations/${acme}/members`, { members: [] })).status).toBe(400);
    expect(emu.organizationMembers("acme")).toEqual([uid(0), uid(2)]);
    expect((await call(emu, "DELETE", "/organizations/org_0000000000000000/members", { members: [uid(0)] })).status).toBe(404);
  });

  it("lists members as Auth0 pages them: bare array, totals, checkpoint, fields=roles", async () => {
    const { emu, acme, admin } = await tenant();
    for (let i = 0; i < 25; i += 10) {
      const batch = Array.from({ length: Math.min(10, 25 - i) }, (_, k) => uid(24 - i - k));
      expect((await call(emu, "POST", `/organizations/${acme}/members`, { members: batch })).status).toBe(204);
    }
    const all = (await json(await call(emu, "GET", `/organizations/${acme}/members?per_page=100`))) as { user_id: string }[];
    expect(all.map((m) => m.user_id)).toEqual(Array.from({ length: 25 }, (_, i) => uid(i)));
    expect(all[0]).toEqual({ user_id: uid(0), email: "u00@example.com", name: "User 00", picture: "https://example.com/00.png" });
    expect(all[1]).toEqual({ user_id: uid(1), email: "u01@example.com" });
    const page = await json(await call(emu, "GET", `/organizations/${acme}/members?per_page=10&page=1&include_totals=true`));
    expect(page).toMatchObject({ start: 10, limit: 10, total: 25, members: expect.any(Array) });
    expect((page as { members: { user_id: string }[] }).members.map((m) => m.user_id)).toEqual(Array.from({ length: 10 }, (_, i) => uid(10 + i)));

    // Checkpoint paging reaches every member; `next` is absent on the last page.
    const sizes: number[] = [];
    const seen: string[] = [];
    let from: string | undefined;
    for (;;) {
      const res = (await json(await call(emu, "GET", `/organizations/${acme}/members?take=10${from ? `&from=${from}` : ""}`))) as { members: { user_id: string }[]; next?: string };
      sizes.push(res.members.length);
      seen.push(...res.members.map((m) => m.user_id));
      if (res.next === undefined) break;
      from = res.next;
    }
    expect(sizes).toEqual([10, 10, 5]);
    expect(seen).toEqual(all.map((m) => m.user_id));

    // Roles only on request; fields can narrow the listing.
    await call(emu, "POST", `/organizations/${acme}/members/${enc(uid(3))}/roles`, { roles: [admin] });
    const withRoles = (await json(await call(emu, "GET", `/organizations/${acme}/members?fields=user_id,roles&per_page=5`))) as unknown[];
    expect(withRoles[3]).toEqual({ user_id: uid(3), roles: [{ id: admin, name: "admin" }] });
    expect(withRoles[0]).toEqual({ user_id: uid(0), roles: [] });
    const noEmail = (await json(await call(emu, "GET", `/organizations/${acme}/members?fields=email,picture&include_fields=false&per_page=1`))) as unknown[];
    expect(noEmail).toEqual([{ user_id: uid(0), name: "User 00" }]);
    expect((await call(emu, "GET", `/organizations/${acme}/members?fields=password`)).status).toBe(400);

    // Offset paging stops at 1,000 results, as documented.
    const past = await call(emu, "GET", `/organizations/${acme}/members?per_page=100&page=10`);
    expect(past.status).toBe(400);
    expect(await past.json()).toMatchObject({ statusCode: 400, errorCode: "invalid_paging" });
    expect((await call(emu, "GET", `/organizations/${acme}/members?per_page=101`)).status).toBe(400);
    expect((await call(emu, "GET", "/organizations/org_0000000000000000/members")).status).toBe(404);
  });

  it("assigns, lists and removes a member's roles in one organization only", async () => {
    const { emu, acme, globex, admin, viewer } = await tenant();
    const ada = uid(0);
    await call(emu, "POST", `/organizations/${acme}/members`, { members: [ada] });
    await call(emu, "POST", `/organizations/${globex}/members`, { members: [ada] });
    const assigned = await call(emu, "POST", `/organizations/${acme}/members/${enc(ada)}/roles`, { roles: [viewer, admin, viewer] });
    expect(assigned.status).toBe(204);
    expect(await assigned.text()).toBe("");
    expect(emu.memberRoles("acme", ada)).toEqual(["admin", "viewer"]);
    expect(emu.memberRoles("globex", ada)).toEqual([]);
    // A member's roles are not the user's tenant roles.
    expect(emu.state().users.find((u) => u.user_id === ada)?.roles).toEqual([]);
    expect(await json(await call(emu, "GET", `/organizations/${acme}/members/${enc(ada)}/roles`))).toEqual([
      { id: admin, name: "admin", description: "admin" },
      { id: viewer, name: "viewer", description: "viewer" },
    ]);
    expect(await json(await call(emu, "GET", `/organizations/${acme}/members/${enc(ada)}/roles?include_totals=true&per_page=1&page=1`))).toEqual({
      roles: [{ id: viewer, name: "viewer", description: "viewer" }],
      start: 1,
      limit: 1,
      total: 2,
    });
    expect(await json(await call(emu, "GET", `/organizations/${globex}/members/${enc(ada)}/roles`))).toEqual([]);
    expect((await call(emu, "DELETE", `/organizations/${acme}/members/${enc(ada)}/roles`, { roles: [viewer] })).status).toBe(204);
    expect(emu.memberRoles("acme", ada)).toEqual(["admin"]);
    // Removing a role the member does not have is no error.
    expect((await call(emu, "DELETE", `/organizations/${acme}/members/${enc(ada)}/roles`, { roles: [viewer] })).status).toBe(204);
    expect(emu.memberRoles("acme", ada)).toEqual(["admin"]);
  });

  it("refuses member roles for a non-member (404 naming both), an unknown role (404) and a bad body (400), changing nothing", async () => {
    const { emu, acme, admin } = await tenant();
    await call(emu, "POST", `/organizations/${acme}/members`, { members: [uid(0)] });
    const before = emu.state();
    const bob = enc(uid(1));
    for (const [method, body] of [["POST", { roles: [admin] }], ["DELETE", { roles: [admin] }], ["GET", undefined]] as const) {
      const res = await call(emu, method, `/organizations/${acme}/members/${bob}/roles`, body);
      expect(res.status, method).toBe(404);
      expect(await res.json()).toEqual({ statusCode: 404, error: "Not Found", message: `The user ${uid(1)} is not a member of the organization ${acme}.`, errorCode: "inexistent_member" });
    }
    const unknownRole = await call(emu, "POST", `/organizations/${acme}/members/${enc(uid(0))}/roles`, { roles: [admin, "rol_doesnotexist"] });
    expect(unknownRole.status).toBe(404);
    expect(await unknownRole.json()).toEqual({ statusCode: 404, error: "Not Found", message: "The role does not exist.", errorCode: "inexistent_role" });
    for (const body of [{}, { roles: [] }, { roles: admin }, { roles: [admin], extra: 1 }]) {
      const res = await call(emu, "POST", `/organizations/${acme}/members/${enc(uid(0))}/roles`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toEqual(badBody);
    }
    expect((await call(emu, "POST", `/organizations/org_0000000000000000/members/${enc(uid(0))}/roles`, { roles: [admin] })).status).toBe(404);
    expect(emu.state()).toEqual(before);
  });

  it("refuses a member's 51st role with the documented 409", async () => {
    const { emu, acme } = await tenant();
    const ids = Array.from({ length: 51 }, (_, i) => emu.addRole(`r${i}`));
    await call(emu, "POST", `/organizations/${acme}/members`, { members: [uid(0)] });
    const path = `/organizations/${acme}/members/${enc(uid(0))}/roles`;
    expect((await call(emu, "POST", path, { roles: ids.slice(0, 50) })).status).toBe(204);
    const over = await call(emu, "POST", path, { roles: ids.slice(49) });
    expect(over.status).toBe(409);
    expect(await over.json()).toEqual({ statusCode: 409, error: "Conflict", message: "No more roles can be assigned to this organization member." });
    expect(emu.memberRoles("acme", uid(0))).toHaveLength(50);
    // A role the member has changes nothing, so is not past the limit.
    expect((await call(emu, "POST", path, { roles: [ids[0] ?? ""] })).status).toBe(204);
  });

  it("lists a user's organizations (paged), and answers 404 for an unknown user", async () => {
    const { emu, acme, globex } = await tenant();
    const initech = emu.addOrganization("initech", "Initech Corp.");
    for (const org of [acme, globex, initech]) await call(emu, "POST", `/organizations/${org}/members`, { members: [uid(0)] });
    const orgs = (await json(await call(emu, "GET", `/users/${enc(uid(0))}/organizations`))) as { id: string; name: string; display_name: string }[];
    expect(orgs.map((o) => o.name).sort()).toEqual(["acme", "globex", "initech"]);
    expect(orgs.find((o) => o.id === initech)).toEqual({ id: initech, name: "initech", display_name: "Initech Corp." });
    const paged = await json(await call(emu, "GET", `/users/${enc(uid(0))}/organizations?per_page=2&page=1&include_totals=true`));
    expect(paged).toEqual({ organizations: [orgs[2]], start: 2, limit: 2, total: 3 });
    expect(await json(await call(emu, "GET", `/users/${enc(uid(1))}/organizations`))).toEqual([]);
    const unknown = await call(emu, "GET", "/users/auth0%7Cnobody/organizations");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ statusCode: 404, error: "Not Found", message: "User not found", errorCode: "inexistent_user" });
  });

  it("ends a deleted user's memberships and member roles", async () => {
    const { emu, acme, globex, admin } = await tenant();
    for (const org of [acme, globex]) await call(emu, "POST", `/organizations/${org}/members`, { members: [uid(0), uid(1)] });
    await call(emu, "POST", `/organizations/${acme}/members/${enc(uid(0))}/roles`, { roles: [admin] });
    expect((await call(emu, "DELETE", `/users/${enc(uid(0))}`)).status).toBe(204);
    expect(emu.organizationMembers("acme")).toEqual([uid(1)]);
    expect(emu.organizationMembers("globex")).toEqual([uid(1)]);
    expect(emu.memberRoles("acme", uid(0))).toEqual([]);
    expect(emu.state().organizations?.flatMap((o) => o.members.map((m) => m.user_id))).toEqual([uid(1), uid(1)]);
  });

  it("serves the official SDK's organizations clients", async () => {
    const { emu, acme, admin } = await tenant();
    const { tokens: provider } = sdkFor(emu);
    const options = { baseUrl: `${emu.baseUrl}/api/v2`, token: () => provider.getAccessToken(), maxRetries: 0 };
    const orgs = new OrganizationsClient(options);
    const users = new UsersClient(options);
    expect((await orgs.getByName("acme")).id).toBe(acme);
    await orgs.members.create(acme, { members: Array.from({ length: 10 }, (_, i) => uid(i)) });
    await orgs.members.create(acme, { members: Array.from({ length: 10 }, (_, i) => uid(10 + i)) });
    const seen: string[] = [];
    for await (const m of await orgs.members.list(acme, { take: 7 })) seen.push(m.user_id ?? "");
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => uid(i)));
    await orgs.members.roles.assign(acme, uid(0), { roles: [admin] });
    expect((await orgs.members.roles.list(acme, uid(0), { per_page: 50, include_totals: true })).data.map((r) => r.name)).toEqual(["admin"]);
    expect((await users.organizations.list(uid(0), { per_page: 50, include_totals: true })).data.map((o) => o.name)).toEqual(["acme"]);
    await orgs.members.delete(acme, { members: [uid(0)] });
    const err = await rejection(orgs.getByName("nope"), ManagementError);
    expect(err.statusCode).toBe(404);
  });
});

describe("Auth0 emulator: organizations persist", () => {
  /** Memberships and member roles of every kind of write, answered and never saved. */
  async function writes(emu: Auth0Emulator): Promise<void> {
    const id = (name: string) => emu.state().organizations?.find((o) => o.name === name)?.id ?? "";
    const role = (name: string) => emu.state().roles.find((r) => r.name === name)?.id ?? "";
    const [acme, globex] = [id("acme"), id("globex")];
    expect((await call(emu, "POST", `/organizations/${acme}/members`, { members: [uid(0), uid(1), uid(2)] })).status).toBe(204);
    expect((await call(emu, "POST", `/organizations/${globex}/members`, { members: [uid(0), uid(3)] })).status).toBe(204);
    expect((await call(emu, "POST", `/organizations/${acme}/members/${enc(uid(0))}/roles`, { roles: [role("admin"), role("viewer")] })).status).toBe(204);
    expect((await call(emu, "DELETE", `/organizations/${acme}/members/${enc(uid(0))}/roles`, { roles: [role("viewer")] })).status).toBe(204);
    expect((await call(emu, "POST", `/organizations/${globex}/members/${enc(uid(3))}/roles`, { roles: [role("viewer")] })).status).toBe(204);
    expect((await call(emu, "DELETE", `/organizations/${acme}/members`, { members: [uid(1)] })).status).toBe(204);
    expect((await call(emu, "DELETE", `/users/${enc(uid(2))}`)).status).toBe(204);
    emu.addOrganization("initech");
    // A write applied and then answered 500 (the client cannot tell) is in the tenant, so in the journal too.
    emu.setFaults({ failRate: 1, failAfterWriteShare: 1 });
    expect((await call(emu, "POST", `/organizations/${globex}/members`, { members: [uid(4)] })).status).toBeGreaterThanOrEqual(500);
    emu.setFaults({ failRate: 0 });
  }

  const expected = (s: TenantState) =>
    s.organizations?.map((o) => ({ name: o.name, members: Object.fromEntries(o.members.map((m) => [m.user_id, m.roles])) }));

  it("state() -> load() is a round trip, organization ids and member roles included", async () => {
    const { emu } = await tenant();
    await writes(emu);
    const state = emu.state();
    expect(expected(state)).toEqual([
      { name: "acme", members: { [uid(0)]: ["admin"] } },
      { name: "globex", members: { [uid(0)]: [], [uid(3)]: ["viewer"], [uid(4)]: [] } },
      { name: "initech", members: {} },
    ]);
    const other = new Auth0Emulator();
    other.load(state);
    expect(other.state()).toEqual(state);
    expect(other.organizationMembers("globex")).toEqual([uid(0), uid(3), uid(4)]);
    expect(other.memberRoles("acme", uid(0))).toEqual(["admin"]);
    // Memberships of users the loaded state lacks are dropped.
    other.load({ ...state, users: state.users.filter((u) => u.user_id !== uid(3)) });
    expect(other.organizationMembers("globex")).toEqual([uid(0), uid(4)]);
  });

  it("journals every membership and member-role write: a restarted process finds them all", async () => {
    const file = join(tempDir(), "tenant.json");
    const { emu } = await tenant();
    emu.persistTo(file);
    await writes(emu);
    const live = emu.state();
    const journal = readFileSync(journalFileOf(file), "utf8");
    expect(journal).toContain('"op":"org"');
    // A new process, whose constructor makes the same organizations anew (under new ids): the journal's win.
    const again = new Auth0Emulator({ roles: ["admin", "viewer"], organizations: ["acme", "globex"] });
    again.persistTo(file);
    expect(again.state().organizations).toEqual(live.organizations);
    expect(again.state().users.map((u) => u.user_id)).toEqual(live.users.map((u) => u.user_id));
    // Replaying the journal again onto the checkpointed file changes nothing.
    again.checkpoint();
    writeFileSync(journalFileOf(file), journal);
    const third = new Auth0Emulator();
    third.persistTo(file);
    expect(third.state().organizations).toEqual(live.organizations);
  });

  it("a state file from before organizations keeps the constructed ones, and journals them", async () => {
    const file = join(tempDir(), "tenant.json");
    const { organizations: _none, ...old } = new Auth0Emulator({ roles: ["admin"] }).state();
    writeFileSync(file, JSON.stringify(old));
    const emu = new Auth0Emulator({ organizations: ["acme"] });
    emu.persistTo(file);
    const acme = emu.state().organizations?.[0];
    expect(acme?.name).toBe("acme");
    const again = new Auth0Emulator();
    again.persistTo(file);
    expect(again.state().organizations).toEqual([acme]);
  });
});

describe("Auth0 emulator: organizations rate limits", () => {
  it("charges each organizations route to the bucket of the product's endpointGroupOf (professional)", async () => {
    const { emu, acme, admin } = await tenant();
    await call(emu, "POST", `/organizations/${acme}/members`, { members: [uid(0)] });
    const u = enc(uid(0));
    const requests: [string, string, unknown?][] = [
      ["GET", "/organizations/name/acme"],
      ["GET", `/organizations/${acme}`],
      ["GET", `/organizations/${acme}/members`],
      ["POST", `/organizations/${acme}/members`, { members: [uid(1)] }],
      ["DELETE", `/organizations/${acme}/members`, { members: [uid(1)] }],
      ["GET", `/organizations/${acme}/members/${u}/roles`],
      ["POST", `/organizations/${acme}/members/${u}/roles`, { roles: [admin] }],
      ["DELETE", `/organizations/${acme}/members/${u}/roles`, { roles: [admin] }],
      ["GET", `/users/${u}/organizations`],
    ];
    const { buckets, groupBucket } = resolveRateLimits({ plan: "professional" });
    const charged: string[] = [];
    for (const [method, path, body] of requests) {
      emu.setLimits({ plan: "professional" });
      emu.clearLog();
      const res = await call(emu, method, path, body);
      const what = `${method} ${path}`;
      expect(res.status, what).toBeLessThan(300);
      const bucket = groupBucket[endpointGroupOf(method, `/api/v2${path}`)];
      expect(emu.requestLog.map((e) => e.bucket), what).toEqual([bucket]);
      expect(res.headers.get("x-ratelimit-limit"), what).toBe(String(buckets[bucket]?.burst));
      charged.push(`${method} ${emu.requestLog[0]?.route} ${bucket}`);
    }
    expect(charged).toEqual([
      "GET /api/v2/organizations/name/:id other",
      "GET /api/v2/organizations/:id other",
      "GET /api/v2/organizations/:id/members readOrgMembers",
      "POST /api/v2/organizations/:id/members writeOrgMembers",
      "DELETE /api/v2/organizations/:id/members writeOrgMembers",
      "GET /api/v2/organizations/:id/members/:id/roles readOrgMembers",
      "POST /api/v2/organizations/:id/members/:id/roles writeOrgMemberRoles",
      "DELETE /api/v2/organizations/:id/members/:id/roles writeOrgMemberRoles",
      "GET /api/v2/users/:id/organizations other",
    ]);
  });
});
