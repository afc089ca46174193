import { ManagementError } from "auth0";
import { describe, expect, it } from "vitest";
import type { Auth0Emulator, TenantUser } from "../../local/auth0-emulator.js";
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from "../../local/auth0-emulator.js";
import { sdkFor, startEmulator, storedUser } from "../helpers/emulator.js";

const MEMBERS = 250;

const user = (i: number, roles: string[]): TenantUser => storedUser("user", String(i).padStart(4, "0"), i, roles);

/** A tenant with MEMBERS users in role "member" (listed out of order) and a few in role "other" only. */
async function tenant(): Promise<{ emu: Auth0Emulator; roleId: string; api: (path: string) => Promise<Response> }> {
  const emu = await startEmulator({ roles: ["member", "other"] });
  const members = Array.from({ length: MEMBERS }, (_, i) => user(MEMBERS - 1 - i, i % 3 === 0 ? ["member", "other"] : ["member"]));
  emu.load({ ...emu.state(), users: [...members, user(9000, ["other"]), user(9001, [])] });
  const roleId = emu.state().roles.find((r) => r.name === "member")?.id ?? "";
  const { tokens } = sdkFor(emu);
  const api = async (path: string) => fetch(`${emu.baseUrl}/api/v2${path}`, { headers: { authorization: `Bearer ${await tokens.getAccessToken()}` } });
  return { emu, roleId, api };
}

describe("Auth0 emulator: role members", () => {
  it("pages every member with checkpoint pagination through the SDK, beyond 100", async () => {
    const { emu, roleId } = await tenant();
    const { roles } = sdkFor(emu);
    const first = await roles.users.list(roleId, { take: 100 });
    expect(first.data).toHaveLength(100);
    expect(first.hasNextPage()).toBe(true);
    const seen: string[] = [];
    for await (const u of await roles.users.list(roleId, { take: 100 })) seen.push(u.user_id ?? "");
    const expected = Array.from({ length: MEMBERS }, (_, i) => `auth0|user${String(i).padStart(4, "0")}`);
    expect(seen).toEqual(expected);
    expect(first.data[0]).toEqual({ user_id: "auth0|user0000", email: "user0000@example.com", name: "User 0000", picture: "https://example.com/0000.png" });
    expect(first.data[1]).toEqual({ user_id: "auth0|user0001", email: "user0001@example.com" });
  });

  it("answers {users, next} and omits next on the last page; rejects a bad cursor and take beyond 100", async () => {
    const { roleId, api } = await tenant();
    const sizes: number[] = [];
    let from: string | undefined;
    for (;;) {
      const res = (await (await api(`/roles/${roleId}/users?take=100${from ? `&from=${from}` : ""}`)).json()) as { users: unknown[]; next?: string };
      sizes.push(res.users.length);
      if (res.next === undefined) {
        expect(Object.keys(res)).toEqual(["users"]);
        break;
      }
      expect(typeof res.next).toBe("string");
      from = res.next;
    }
    expect(sizes).toEqual([100, 100, 50]);
    expect((await api(`/roles/${roleId}/users?take=50&from=not*a*cursor`)).status).toBe(400);
    const tooMany = await api(`/roles/${roleId}/users?take=101`);
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({ statusCode: 400, error: "Bad Request", message: expect.stringContaining("greater than maximum 100"), errorCode: "invalid_query_string" });
  });

  it("pages by offset with totals, and refuses offset paging past 1,000 results", async () => {
    const { roleId, api } = await tenant();
    expect(await (await api(`/roles/${roleId}/users?per_page=100&page=2&include_totals=true`)).json()).toMatchObject({ start: 200, limit: 100, total: MEMBERS, users: expect.any(Array) });
    expect(await (await api(`/roles/${roleId}/users?per_page=100&page=2`)).json()).toHaveLength(50);
    expect(await (await api(`/roles/${roleId}/users?per_page=100&page=9`)).json()).toEqual([]);
    const past = await api(`/roles/${roleId}/users?per_page=100&page=10`);
    expect(past.status).toBe(400);
    expect(await past.json()).toEqual({
      statusCode: 400,
      error: "Bad Request",
      message: "Requesting page 10 exceeds the allowed maximum of 1000 records. To fetch results beyond 1000, use the checkpoint pagination method.",
      errorCode: "invalid_paging",
    });
    expect((await api(`/roles/${roleId}/users?per_page=101`)).status).toBe(400);
  });

  it("answers 404 for an unknown role", async () => {
    const { emu } = await tenant();
    const { roles } = sdkFor(emu);
    const err = await roles.users.list("rol_doesnotexist", { take: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagementError);
    expect((err as ManagementError).statusCode).toBe(404);
    expect((err as ManagementError).body).toMatchObject({ statusCode: 404, errorCode: "inexistent_role" });
  });
});

describe("Auth0 emulator: roles list and tokens", () => {
  it("lists roles as a bare array, or with totals when include_totals=true", async () => {
    const { emu, api } = await tenant();
    const bare = (await (await api("/roles")).json()) as { name: string }[];
    expect(bare.map((r) => r.name).sort()).toEqual(["member", "other"]);
    expect(await (await api("/roles?include_totals=true&per_page=1")).json()).toEqual({ start: 0, limit: 1, total: 2, roles: [expect.objectContaining({ name: expect.any(String), id: expect.stringMatching(/^rol_/) })] });
    const { roles } = sdkFor(emu);
    expect((await roles.list({ name_filter: "MEM" })).data.map((r) => r.name)).toEqual(["member"]);
  });

  it("issues a token for a form-encoded body as well as for JSON", async () => {
    const emu = await startEmulator({ roles: ["member"] });
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: DEFAULT_CLIENT_ID, client_secret: DEFAULT_CLIENT_SECRET, audience: `https://${emu.domain}/api/v2/` });
    const res = await fetch(`${emu.baseUrl}/oauth/token`, { method: "POST", body: form });
    expect(res.headers.get("content-type") ?? "").toContain("application/json");
    expect(res.status).toBe(200);
    const { access_token: token } = (await res.json()) as { access_token: string };
    expect((await fetch(`${emu.baseUrl}/api/v2/roles`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const wrong = new URLSearchParams(form);
    wrong.set("client_secret", "wrong");
    expect((await fetch(`${emu.baseUrl}/oauth/token`, { method: "POST", body: wrong })).status).toBe(401);
    const broken = await fetch(`${emu.baseUrl}/oauth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(broken.status).toBe(400);
  });
});
