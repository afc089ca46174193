import { describe, expect, it } from "vitest";
import { type Auth0Emulator, DASHBOARD_CLIENT_ID, DASHBOARD_CLIENT_NAME, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_NAME, DEFAULT_CONNECTION, DEFAULT_DASHBOARD_ADMIN, type TenantLogEntry } from "../../local/auth0-emulator.js";
import { groupOfRoute, routeOf } from "../../local/auth0-emulator-limits.js";
import { TenantLog } from "../../local/auth0-emulator-logs.js";
import { apiCall as call, importCall, startEmulator } from "../helpers/emulator.js";

const PASSWORD = "Correct-Horse-9-Battery";
const OTHER = { clientId: "OtherClient000000000000000000001", clientSecret: "other-secret", name: "HR import" };

const newUser = (email: string) => ({ connection: DEFAULT_CONNECTION, email, password: PASSWORD });

async function created(emu: Auth0Emulator, email: string): Promise<string> {
  const res = await call(emu, "POST", "/users", newUser(email));
  return ((await res.json()) as { user_id: string }).user_id;
}

/** A token of another registered client, by client credentials as any client gets one. */
async function tokenOf(emu: Auth0Emulator, c: { clientId: string; clientSecret: string }): Promise<{ access_token: string; scope: string }> {
  const res = await fetch(`${emu.baseUrl}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "client_credentials", client_id: c.clientId, client_secret: c.clientSecret, audience: `https://${emu.domain}/api/v2/` }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { access_token: string; scope: string };
}

async function callAs(emu: Auth0Emulator, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${emu.baseUrl}/api/v2${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

const last = (emu: Auth0Emulator): TenantLogEntry | undefined => emu.tenantLog.entries().at(-1);
const enc = encodeURIComponent;

describe("Auth0 emulator: tenant log of writes", () => {
  it("logs the sync's PATCH as a sapi with the path as requested, the body, its client and the answer", async () => {
    const emu = await startEmulator();
    const id = await created(emu, "ada@example.com");
    const res = await call(emu, "PATCH", `/users/${enc(id)}?x=1`, { given_name: "Ada", app_metadata: { team: "blue" } });
    expect(res.status).toBe(200);
    const e = last(emu);
    expect(e).toMatchObject({
      type: "sapi",
      description: "Update a User",
      client_id: DEFAULT_CLIENT_ID,
      client_name: DEFAULT_CLIENT_NAME,
      user_id: "",
      tenant_name: "tenant",
      details: {
        request: { method: "patch", path: `/api/v2/users/${id}`, query: { x: "1" }, body: { given_name: "Ada", app_metadata: { team: "blue" } }, channel: "api", auth: { user: {}, strategy: "jwt" } },
        response: { statusCode: 200, body: { user_id: id, given_name: "Ada" } },
      },
    });
    expect(e?.details.request.auth.credentials.scopes).toContain("update:users");
    expect(e?.log_id).toMatch(/^\d{56}$/);
    expect(Date.parse(e?.date ?? "")).toBeGreaterThan(Date.now() - 60_000);
  });

  it("logs a Dashboard edit with the Dashboard's channel, client and admin, rate-limited but out of the request log", async () => {
    const emu = await startEmulator({ rate: 0.001, burst: 20 });
    const id = await created(emu, "bob@example.com");
    emu.clearLog();
    const before = emu.bucketLevels().global?.remaining ?? 0;
    const res = await emu.dashboardEdit("PATCH", `/users/${enc(id)}`, { family_name: "Builder" });
    expect(res.status).toBe(200);
    expect(emu.requestLog).toEqual([]);
    expect(emu.bucketLevels().global?.remaining).toBe(before - 1);
    expect(last(emu)).toMatchObject({
      type: "sapi",
      client_id: DASHBOARD_CLIENT_ID,
      client_name: DASHBOARD_CLIENT_NAME,
      user_id: DEFAULT_DASHBOARD_ADMIN.user_id,
      details: { request: { method: "patch", path: `/api/v2/users/${id}`, channel: "https://manage.auth0.com/", auth: { user: DEFAULT_DASHBOARD_ADMIN, strategy: "jwt" } } },
    });
    const admin = { user_id: "google-oauth2|42", name: "Grace", email: "grace@example.com" };
    await emu.dashboardEdit("DELETE", `/api/v2/users/${enc(id)}`, undefined, admin);
    expect(last(emu)).toMatchObject({ description: "Delete a User", user_id: admin.user_id, details: { request: { auth: { user: admin } } } });
    // The Dashboard signs admins in: its application takes no client credentials.
    const token = await fetch(`${emu.baseUrl}/oauth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ grant_type: "client_credentials", client_id: DASHBOARD_CLIENT_ID, client_secret: "", audience: `https://${emu.domain}/api/v2/` }) });
    expect(token.status).toBe(401);
  });

  it("logs a second client's writes under its id and name, charges them, and keeps them out of the request log", async () => {
    const emu = await startEmulator({ rate: 0.001, burst: 20 });
    emu.addClient(OTHER);
    expect(() => emu.addClient(OTHER)).toThrow(/exists already/);
    const id = await created(emu, "cy@example.com");
    emu.clearLog();
    const [before, issued] = [emu.bucketLevels().global?.remaining ?? 0, emu.tokensIssued];
    const { access_token, scope } = await tokenOf(emu, OTHER);
    expect(scope.split(" ")).toContain("read:logs");
    expect(emu.tokensIssued).toBe(issued);
    expect((await callAs(emu, access_token, "PATCH", `/users/${enc(id)}`, { nickname: "cy" })).status).toBe(200);
    expect(emu.requestLog).toEqual([]);
    expect(emu.bucketLevels().global?.remaining).toBe(before - 1);
    expect(last(emu)).toMatchObject({ client_id: OTHER.clientId, client_name: OTHER.name, details: { request: { channel: "api", body: { nickname: "cy" } } } });
    // The sync's own requests still are.
    await call(emu, "GET", `/users/${enc(id)}`);
    expect(emu.requestLog.map((r) => `${r.method} ${r.route} ${r.status}`)).toEqual(["GET /api/v2/users/:id 200"]);
  });

  it("does not log reads, nor a request refused by the rate limit", async () => {
    const emu = await startEmulator({ rate: 0.001, burst: 3 });
    const id = await created(emu, "dee@example.com");
    const n = emu.tenantLog.size;
    await call(emu, "GET", `/users/${enc(id)}`);
    await call(emu, "GET", "/logs");
    expect(emu.tenantLog.size).toBe(n);
    const refused = await call(emu, "PATCH", `/users/${enc(id)}`, { name: "Dee" });
    expect(refused.status).toBe(429);
    expect(emu.tenantLog.size).toBe(n);
  });

  it("logs a refused write as a fapi with Auth0's error, never as a sapi", async () => {
    const emu = await startEmulator();
    await created(emu, "eve@example.com");
    expect((await call(emu, "PATCH", "/users/auth0%7Cnobody", { name: "x" })).status).toBe(404);
    expect(last(emu)).toMatchObject({ type: "fapi", description: "The user does not exist.", details: { request: { method: "patch", path: "/api/v2/users/auth0|nobody" }, response: { statusCode: 404, body: { errorCode: "inexistent_user" } } } });
    expect((await call(emu, "POST", "/users", newUser("eve@example.com"))).status).toBe(409);
    expect(last(emu)).toMatchObject({ type: "fapi", details: { response: { statusCode: 409 } } });
    expect(emu.tenantLog.entries().filter((e) => e.type === "sapi")).toHaveLength(1);
  });

  it("logs a write an injected failure answers with 5xx after applying it: the change happened", async () => {
    const emu = await startEmulator();
    const id = await created(emu, "fay@example.com");
    emu.setFaults({ failRate: 1, failAfterWriteShare: 1 });
    expect((await call(emu, "PATCH", `/users/${enc(id)}`, { name: "Fay" })).status).toBeGreaterThanOrEqual(500);
    expect(last(emu)).toMatchObject({ type: "sapi", details: { response: { statusCode: 200 } } });
  });

  it("never stores a password: not on create, not on a password change", async () => {
    const emu = await startEmulator();
    const id = await created(emu, "gus@example.com");
    const changed = "Another-Secret-77-Horse";
    expect((await call(emu, "PATCH", `/users/${enc(id)}`, { password: changed })).status).toBe(200);
    const [create, patch] = emu.tenantLog.entries();
    expect(create?.details.request.body).toMatchObject({ email: "gus@example.com", password: "[redacted]" });
    expect(patch?.details.request.body).toEqual({ password: "[redacted]" });
    const text = await (await call(emu, "GET", "/logs?per_page=100")).text();
    expect(text).toContain("gus@example.com");
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(changed);
  });

  it("delivers each entry to subscribers in order, until they unsubscribe", async () => {
    const emu = await startEmulator();
    const seen: TenantLogEntry[] = [];
    const stop = emu.tenantLog.subscribe((e) => seen.push(e));
    const id = await created(emu, "hal@example.com");
    await call(emu, "PATCH", `/users/${enc(id)}`, { name: "Hal" });
    await call(emu, "DELETE", `/users/${enc(id)}`);
    stop();
    await created(emu, "ivy@example.com");
    expect(seen.map((e) => e.description)).toEqual(["Create a User", "Update a User", "Delete a User"]);
    expect(seen.map((e) => e.log_id)).toEqual(emu.tenantLog.entries().slice(0, 3).map((e) => e.log_id));
    expect(emu.tenantLog.size).toBe(4);
  });

  it("logs DELETE /users/{id}, role assignments both ways and organization members with their bodies", async () => {
    const emu = await startEmulator({ roles: ["admin"] });
    const role = emu.state().roles[0]?.id ?? "";
    const org = emu.addOrganization("acme");
    const id = await created(emu, "jo@example.com");
    const steps: [string, string, unknown, string, number][] = [
      ["POST", `/roles/${role}/users`, { users: [id] }, "Assign users to a role", 200],
      ["POST", `/users/${enc(id)}/roles`, { roles: [role] }, "Assign roles to a user", 204],
      ["DELETE", `/users/${enc(id)}/roles`, { roles: [role] }, "Removes roles from a user", 204],
      ["POST", `/organizations/${org}/members`, { members: [id] }, "Add members to an organization", 204],
      ["POST", `/organizations/${org}/members/${enc(id)}/roles`, { roles: [role] }, "Assign user roles to an Organization member", 204],
      ["DELETE", `/organizations/${org}/members/${enc(id)}/roles`, { roles: [role] }, "Delete user roles from an Organization member", 204],
      ["DELETE", `/organizations/${org}/members`, { members: [id] }, "Delete members from an organization", 204],
      ["DELETE", `/users/${enc(id)}`, undefined, "Delete a User", 204],
    ];
    for (const [method, path, body, description, status] of steps) {
      expect((await call(emu, method, path, body)).status, `${method} ${path}`).toBe(status);
      expect(last(emu), `${method} ${path}`).toMatchObject({
        type: "sapi",
        description,
        details: { request: { method: method.toLowerCase(), path: decodeURIComponent(`/api/v2${path}`), body: body ?? null }, response: { statusCode: status } },
      });
    }
  });

  it("logs a users import without the users file", async () => {
    const emu = await startEmulator();
    expect((await importCall(emu, [{ email: "kim@example.com", password_hash: "$2b$10$abcdefghijklmnopqrstuv" }], { upsert: "false", send_completion_email: "false" })).status).toBe(202);
    const e = last(emu);
    expect(e).toMatchObject({ type: "sapi", description: "Create import users job", details: { request: { body: { connection_id: emu.connectionId(DEFAULT_CONNECTION), upsert: "false", send_completion_email: "false" } }, response: { statusCode: 202 } } });
    expect(JSON.stringify(e)).not.toContain("kim@example.com");
  });
});

describe("Auth0 emulator: GET /api/v2/logs", () => {
  /** A tenant whose log has `n` sapi entries (one user created, then patched n - 1 times). */
  async function logged(n: number): Promise<{ emu: Auth0Emulator; ids: string[] }> {
    const emu = await startEmulator({ rate: 1000, burst: 1000 });
    const id = await created(emu, "lee@example.com");
    for (let i = 1; i < n; i++) await call(emu, "PATCH", `/users/${enc(id)}`, { nickname: `n${i}` });
    return { emu, ids: emu.tenantLog.entries().map((e) => e.log_id) };
  }

  it("pages by checkpoint: entries after `from`, oldest first, `take` of them, the next page in the Link header", async () => {
    const { emu, ids } = await logged(7);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(7);
    const res = await call(emu, "GET", `/logs?from=${ids[1]}&take=3&per_page=1&sort=date:-1&q=type:fapi`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as TenantLogEntry[]).map((e) => e.log_id)).toEqual(ids.slice(2, 5));
    expect(res.headers.get("link")).toBe(`<${emu.baseUrl}/api/v2/logs?from=${ids[4]}&take=3>; rel="next"`);
    const rest = (await (await call(emu, "GET", `/logs?from=${ids[4]}`)).json()) as TenantLogEntry[];
    expect(rest.map((e) => e.log_id)).toEqual(ids.slice(5));
    // Nothing newer: an empty page, and the next link repeats the request.
    const empty = await call(emu, "GET", `/logs?from=${ids[6]}&take=10`);
    expect(await empty.json()).toEqual([]);
    expect(empty.headers.get("link")).toBe(`<${emu.baseUrl}/api/v2/logs?from=${ids[6]}&take=10>; rel="next"`);
    // A checkpoint older than every entry kept (or from an earlier process) reads from the start.
    expect(((await (await call(emu, "GET", "/logs?from=0&take=2")).json()) as TenantLogEntry[]).map((e) => e.log_id)).toEqual(ids.slice(0, 2));
  });

  it("refuses take and per_page above 100 with a 400", async () => {
    const { emu, ids } = await logged(1);
    for (const q of [`from=${ids[0]}&take=101`, "per_page=101", `from=${ids[0]}&take=0`]) {
      const res = await call(emu, "GET", `/logs?${q}`);
      expect(res.status, q).toBe(400);
      expect(await res.json(), q).toMatchObject({ statusCode: 400, errorCode: "invalid_query_string" });
    }
    const beyond = await call(emu, "GET", "/logs?per_page=100&page=10");
    expect(beyond.status).toBe(400);
  });

  it("searches with page/per_page, newest first by default or date:1, include_totals, fields and q", async () => {
    const { emu, ids } = await logged(5);
    const page = async (q: string) => ((await (await call(emu, "GET", `/logs?${q}`)).json()) as TenantLogEntry[]).map((e) => e.log_id);
    expect(await page("per_page=2")).toEqual([ids[4], ids[3]]);
    expect(await page("per_page=2&page=1")).toEqual([ids[2], ids[1]]);
    expect(await page("per_page=2&page=1&sort=date:1")).toEqual([ids[2], ids[3]]);
    const totals = (await (await call(emu, "GET", "/logs?per_page=2&include_totals=true&fields=log_id,type")).json()) as { logs: object[] };
    expect(totals).toEqual({ start: 0, limit: 2, length: 2, total: 5, logs: [{ log_id: ids[4], type: "sapi" }, { log_id: ids[3], type: "sapi" }] });
    expect(await page(`q=description:"Create a User"`)).toEqual([ids[0]]);
    expect(await page(`q=client_id:${DEFAULT_CLIENT_ID} AND details.request.method:patch&sort=date:1&per_page=1`)).toEqual([ids[1]]);
    expect((await call(emu, "GET", "/logs?sort=ip:1")).status).toBe(400);
  });

  it("needs read:logs: a client without it gets Auth0's 403", async () => {
    const emu = await startEmulator();
    emu.addClient({ ...OTHER, scopes: ["read:users"] });
    const { access_token, scope } = await tokenOf(emu, OTHER);
    expect(scope).toBe("read:users");
    const res = await callAs(emu, access_token, "GET", "/logs");
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ statusCode: 403, error: "Forbidden", message: "Insufficient scope, expected any of: read:logs", errorCode: "insufficient_scope" });
  });

  it("is a declared route (test/local/auth0-emulator-limits.test.ts checks its bucket with every other)", () => {
    expect(routeOf("/api/v2/logs")).toBe("/api/v2/logs");
    expect(groupOfRoute("GET", "/api/v2/logs")).toBe("other");
  });
});

describe("TenantLog", () => {
  const entry = (description: string) => ({ type: "sapi" as const, description, client_id: "c", client_name: "n", ip: "127.0.0.1", user_id: "", tenant_name: "t", details: { request: { method: "post", path: "/api/v2/users", query: {}, body: null, channel: "api", ip: "127.0.0.1", auth: { user: {}, strategy: "jwt" as const, credentials: { jti: "j" } } }, response: { statusCode: 201 } } });

  it("keeps the last `capacity` entries with strictly increasing ids, even when the clock goes back", () => {
    const log = new TenantLog(3);
    const ids = ["a", "b", "c", "d"].map((d, i) => log.append(entry(d), i === 2 ? 0 : Date.now()).log_id);
    expect(ids).toEqual([...ids].sort());
    expect(log.entries().map((e) => e.description)).toEqual(["b", "c", "d"]);
  });

  it("survives a listener that throws, and hands out copies", () => {
    const log = new TenantLog();
    log.subscribe(() => {
      throw new Error("boom");
    });
    const seen: TenantLogEntry[] = [];
    log.subscribe((e) => seen.push(e));
    const first = log.append(entry("a"));
    first.description = "changed";
    expect(seen.map((e) => e.description)).toEqual(["a"]);
    expect(log.entries()[0]?.description).toBe("a");
  });
});
