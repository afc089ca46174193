import { appendFileSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ManagementError, TokenProvider } from "auth0";
import { describe, expect, it } from "vitest";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_CONNECTION, TenantFileError, journalFileOf, type TenantState } from "../../local/auth0-emulator.js";
import { sdkFor, startEmulator, urlOf } from "../helpers/emulator.js";
import { tempDir } from "../helpers/tmp.js";
import { rejection } from "../helpers/rejection.js";

const PASSWORD = "Correct-Horse-9-Battery";

const failure = (p: Promise<unknown>): Promise<ManagementError> => rejection(p, ManagementError);

describe("Auth0 emulator, driven by the official SDK", () => {
  it("listens on 127.0.0.1 on an OS-chosen port", async () => {
    const emu = await startEmulator();
    expect(emu.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(emu.baseUrl).port)).toBeGreaterThan(0);
  });

  it("issues client-credentials tokens and refuses bad credentials and missing tokens", async () => {
    const emu = await startEmulator();
    const good = sdkFor(emu);
    expect(await good.tokens.getAccessToken()).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const bad = sdkFor(emu, { clientId: DEFAULT_CLIENT_ID, clientSecret: "wrong" });
    const e = await failure(bad.tokens.getAccessToken());
    expect(e.statusCode).toBe(401);
    const res = await fetch(`${emu.baseUrl}/api/v2/users/auth0|x`);
    expect(res.status).toBe(401);
    expect(res.headers.get("x-ratelimit-limit")).toBe("50");
  });

  it("rejects an expired token with Auth0's message", async () => {
    const emu = await startEmulator();
    const { users } = sdkFor(emu);
    await users.listUsersByEmail({ email: "a@example.com" });
    emu.expireAllTokens();
    const e = await failure(users.listUsersByEmail({ email: "a@example.com" }));
    expect(e.statusCode).toBe(401);
    expect(e.body).toMatchObject({ message: "Expired token received for JSON Web Token validation" });
  });

  it("creates users with a lower-cased email and answers 409 with Auth0's body for the same email in the same connection", async () => {
    const emu = await startEmulator();
    const { users } = sdkFor(emu);
    const created = await users.create({ connection: DEFAULT_CONNECTION, email: "Ada@Example.com", password: PASSWORD, given_name: "Ada" });
    expect(created.user_id).toMatch(/^auth0\|[0-9a-f]{24}$/);
    expect(created.email).toBe("ada@example.com");
    const e = await failure(users.create({ connection: DEFAULT_CONNECTION, email: "ADA@example.com", password: PASSWORD }));
    expect(e.statusCode).toBe(409);
    expect(e.body).toEqual({ statusCode: 409, error: "Conflict", message: "The user already exists.", errorCode: "auth0_idp_error" });
    expect(emu.state().users).toHaveLength(1);
  });

  it("allows the same email in two connections; users-by-email is exact, case-sensitive and returns an array", async () => {
    const emu = await startEmulator({ connections: [{ name: DEFAULT_CONNECTION, strategy: "auth0" }, { name: "email", strategy: "email" }] });
    const { users } = sdkFor(emu);
    await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD });
    await users.create({ connection: "email", email: "Ada@example.com" });
    const found = await users.listUsersByEmail({ email: "ada@example.com" });
    expect(found.map((u) => u.identities?.[0]?.connection).sort()).toEqual(["Username-Password-Authentication", "email"]);
    expect(await users.listUsersByEmail({ email: "Ada@example.com" })).toEqual([]);
  });

  it("validates create bodies as Auth0 does", async () => {
    const emu = await startEmulator({ connections: [{ name: DEFAULT_CONNECTION, strategy: "auth0" }] });
    const { users } = sdkFor(emu);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ email: "a@example.com", password: PASSWORD }, /Missing required property: connection/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com" }, /Missing required property: password/],
      [{ connection: "nope", email: "a@example.com", password: PASSWORD }, /The connection does not exist/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com", password: PASSWORD, favourite_colour: "red" }, /Additional properties not allowed: favourite_colour/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com", password: PASSWORD, phone_number: "0123" }, /does not match pattern .* on property phone_number/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com", password: PASSWORD, given_name: "x".repeat(151) }, /String is too long .* on property given_name/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com", password: PASSWORD, user_metadata: { "a.b": 1 } }, /keys may not contain '\.' or '\$'/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com", password: PASSWORD, app_metadata: { blocked: true } }, /reserved keys: blocked/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com", password: PASSWORD, user_metadata: { bio: "x".repeat(11_000) } }, /larger than the 10 KB limit/],
      [{ connection: DEFAULT_CONNECTION, email: "a@example.com", password: PASSWORD, username: "ada" }, /without requires_username/],
    ];
    for (const [body, message] of cases) {
      const e = await failure(users.create(body as never));
      expect(e.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect((e.body as { message: string }).message).toMatch(message);
    }
    expect(emu.state().users).toEqual([]);
  });

  it("patches with Auth0's merge rules: top-level replace, first-level metadata merge, null deletes, {} wipes", async () => {
    const emu = await startEmulator();
    const { users } = sdkFor(emu);
    const u = await users.create({
      connection: DEFAULT_CONNECTION,
      email: "ada@example.com",
      password: PASSWORD,
      given_name: "Ada",
      family_name: "Byron",
      user_metadata: { a: 1, nested: { x: 1, y: 2 }, gone: true },
      app_metadata: { tier: "gold" },
    });
    const id = u.user_id!;
    const after = await users.update(id, { family_name: null, user_metadata: { nested: { x: 9 }, gone: null, b: 2 } });
    expect(after.family_name).toBeUndefined();
    expect(after.given_name).toBe("Ada");
    expect(after.user_metadata).toEqual({ a: 1, nested: { x: 9 }, b: 2 });
    expect(after.app_metadata).toEqual({ tier: "gold" });
    const wiped = await users.update(id, { app_metadata: {} });
    expect(wiped.app_metadata).toEqual({});
  });

  it("refuses email with password or username in one patch, unknown users, reserved keys and oversize profiles", async () => {
    const emu = await startEmulator();
    const { users } = sdkFor(emu);
    const u = await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD });
    const id = u.user_id!;
    expect((await failure(users.update(id, { email: "new@example.com", password: PASSWORD }))).statusCode).toBe(400);
    expect((await failure(users.update(id, { email: "new@example.com", username: "ada" }))).statusCode).toBe(400);
    const missing = await failure(users.update("auth0|000000000000000000000000", { given_name: "x" }));
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toMatchObject({ message: "The user does not exist.", errorCode: "inexistent_user" });
    expect((await failure(users.update(id, { app_metadata: { user_id: "x" } }))).statusCode).toBe(400);
    expect((await failure(users.update(id, { user_metadata: { bio: "x".repeat(11_000) } }))).statusCode).toBe(400);
    const moved = await users.update(id, { email: "New@Example.com", connection: DEFAULT_CONNECTION });
    expect(moved.email).toBe("new@example.com");
    expect(await users.listUsersByEmail({ email: "ada@example.com" })).toEqual([]);
    expect((await users.listUsersByEmail({ email: "new@example.com" })).map((x) => x.user_id)).toEqual([id]);
  });

  it("deletes with 204", async () => {
    const emu = await startEmulator();
    const { users } = sdkFor(emu);
    const u = await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD });
    await users.delete(u.user_id!);
    expect((await failure(users.get(u.user_id!))).statusCode).toBe(404);
    expect(emu.counters().byEndpoint["DELETE /api/v2/users/:id 204"]).toBe(1);
  });

  it("lists roles page by page and assigns, lists and removes a user's roles", async () => {
    const emu = await startEmulator({ roles: ["admin", "editor", "viewer", "billing", "support"] });
    const { users, roles } = sdkFor(emu);
    const all: string[] = [];
    for await (const r of await roles.list({ per_page: 2 })) all.push(r.name!);
    expect(all.sort()).toEqual(["admin", "billing", "editor", "support", "viewer"]);
    expect(emu.counters().byEndpoint["GET /api/v2/roles 200"]).toBe(3);
    const filtered = [];
    for await (const r of await roles.list({ name_filter: "edit" })) filtered.push(r.name);
    expect(filtered).toEqual(["editor"]);
    const ids = Object.fromEntries(emu.state().roles.map((r) => [r.name, r.id]));
    const u = await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD });
    await users.roles.assign(u.user_id!, { roles: [ids.admin!, ids.viewer!] });
    await users.roles.delete(u.user_id!, { roles: [ids.viewer!] });
    const mine = [];
    for await (const r of await users.roles.list(u.user_id!)) mine.push(r.name);
    expect(mine).toEqual(["admin"]);
    expect((await failure(users.roles.assign(u.user_id!, { roles: ["rol_missing"] }))).statusCode).toBe(404);
  });

  it("creates password-change tickets", async () => {
    const emu = await startEmulator();
    const { users, tickets } = sdkFor(emu);
    const u = await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD });
    const t = await tickets.changePassword({ user_id: u.user_id!, result_url: "https://app.example/welcome", ttl_sec: 3600 });
    expect(t.ticket).toMatch(/^https:\/\/tenant\.emulator\.local\/lo\/reset\?ticket=/);
    expect(emu.state().tickets).toEqual([{ user_id: u.user_id, result_url: "https://app.example/welcome", ttl_sec: 3600 }]);
  });

  it("enforces the tenant token bucket with the three headers and Auth0's 429 body", async () => {
    const emu = await startEmulator({ rate: 2, burst: 3 });
    const token = await sdkFor(emu).tokens.getAccessToken();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await fetch(`${emu.baseUrl}/api/v2/users-by-email?email=a@example.com`, { headers: { authorization: `Bearer ${token}` } });
      statuses.push(last.status);
      if (i === 0) expect(last.headers.get("x-ratelimit-remaining")).toBe("2");
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(await last!.json()).toEqual({ statusCode: 429, error: "Too Many Requests", message: "Global limit has been reached", errorCode: "too_many_requests" });
    expect(last!.headers.get("x-ratelimit-limit")).toBe("3");
    expect(last!.headers.get("x-ratelimit-remaining")).toBe("0");
    const reset = Number(last!.headers.get("x-ratelimit-reset"));
    expect(reset * 1000).toBeGreaterThan(Date.now() - 1000);
    expect(reset * 1000).toBeLessThanOrEqual(Date.now() + 1500);
  });

  it("forces 429 storms, 5xx answers and latency on demand, and logs every request", async () => {
    const emu = await startEmulator();
    const token = await sdkFor(emu).tokens.getAccessToken();
    const get = () => fetch(`${emu.baseUrl}/api/v2/users-by-email?email=a@example.com`, { headers: { authorization: `Bearer ${token}` } });
    emu.storm429(1500);
    const stormed = await get();
    expect(stormed.status).toBe(429);
    expect(Number(stormed.headers.get("x-ratelimit-reset")) * 1000).toBeGreaterThanOrEqual(Date.now() + 400);
    emu.storm429(0);
    emu.setFaults({ failRate: 1 });
    expect([500, 503]).toContain((await get()).status);
    emu.setFaults({ failRate: 0, latencyMs: 200, jitterMs: 50 });
    const t0 = Date.now();
    expect((await get()).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    const c = emu.counters();
    expect(c.byStatus).toMatchObject({ 200: 2, 429: 1 });
    expect(c.total).toBe(4);
  });

  it("exposes the tenant state without passwords, and can load it back", async () => {
    const emu = await startEmulator({ roles: ["admin"] });
    const { users } = sdkFor(emu);
    const u = await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD });
    const state = emu.state();
    expect(JSON.stringify(state)).not.toContain(PASSWORD);
    expect(state.users[0]).toMatchObject({ user_id: u.user_id, hasPassword: true, roles: [] });
    const copy = await startEmulator();
    copy.load(state);
    expect((await sdkFor(copy).users.listUsersByEmail({ email: "ada@example.com" }))[0]?.user_id).toBe(u.user_id);
  });

  it("checks the token audience", async () => {
    const emu = await startEmulator();
    const provider = new TokenProvider({
      domain: emu.domain,
      clientId: DEFAULT_CLIENT_ID,
      clientSecret: DEFAULT_CLIENT_SECRET,
      audience: "https://other.example/api/v2/",
      fetch: (input, init) => fetch(urlOf(input).replace(`https://${emu.domain}`, emu.baseUrl), init),
    });
    expect((await failure(provider.getAccessToken())).statusCode).toBe(403);
  });
});

describe("Auth0 emulator bound to a state file (persistTo)", () => {
  /** The tenant a new process would find: a new emulator bound to the same file. */
  const reopened = (file: string): TenantState => {
    const emu = new Auth0Emulator({ roles: ["admin", "viewer"] });
    emu.persistTo(file);
    return emu.state();
  };
  const byId = (s: TenantState) => ({ ...s, users: [...s.users].sort((a, b) => a.user_id.localeCompare(b.user_id)) });

  /** A tenant with every kind of write acknowledged, and never saved (as a process killed mid-run leaves it). */
  async function writes(file: string): Promise<Auth0Emulator> {
    const emu = await startEmulator({ roles: ["admin", "viewer"] });
    emu.persistTo(file);
    const { users, tickets } = sdkFor(emu);
    const ids = Object.fromEntries(emu.state().roles.map((r) => [r.name, r.id]));
    const a = await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD, given_name: "Ada" });
    const b = await users.create({ connection: DEFAULT_CONNECTION, email: "bob@example.com", password: PASSWORD, verify_email: true });
    const c = await users.create({ connection: DEFAULT_CONNECTION, email: "cy@example.com", password: PASSWORD });
    await users.update(a.user_id!, { email: "ada.l@example.com" });
    await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD, given_name: "Ada II" });
    await users.roles.assign(b.user_id!, { roles: [ids.admin!, ids.viewer!] });
    await users.roles.delete(b.user_id!, { roles: [ids.viewer!] });
    await users.delete(c.user_id!);
    await tickets.changePassword({ user_id: b.user_id!, ttl_sec: 60 });
    emu.addRole("editor");
    // A write applied and then answered 500 (the client cannot tell) is in the tenant, so in the journal too.
    emu.setFaults({ failRate: 1, failAfterWriteShare: 1 });
    await failure(users.update(b.user_id!, { given_name: "Bob" }));
    emu.setFaults({ failRate: 0 });
    return emu;
  }

  it("journals every acknowledged write before answering it: a process that never saves loses none", async () => {
    const file = join(tempDir(), "tenant.json");
    const emu = await writes(file);
    expect(journalFileOf(file)).toBe(file.replace(/tenant\.json$/, "tenant.journal"));
    const live = emu.state();
    expect(live.users).toHaveLength(3);
    expect(live.users.find((u) => u.given_name === "Bob")?.roles).toEqual(["admin"]);
    expect(live.tickets).toHaveLength(1);
    expect(live.verificationEmails).toHaveLength(4);
    expect(byId(reopened(file))).toEqual(byId(live));
    // The journal holds records, never a password or its hash.
    const journal = readFileSync(journalFileOf(file), "utf8");
    expect(journal).not.toContain(PASSWORD);
    expect(journal).not.toMatch(/passwordHash/);
  });

  it("checkpoint writes the state file atomically and empties the journal; a journal replayed twice changes nothing", async () => {
    const file = join(tempDir(), "tenant.json");
    const emu = await writes(file);
    const kept = `${file}.kept-journal`;
    copyFileSync(journalFileOf(file), kept);
    emu.checkpoint();
    expect(existsSync(journalFileOf(file))).toBe(false);
    expect(existsSync(`${file}.tmp`)).toBe(false);
    expect(byId(JSON.parse(readFileSync(file, "utf8")) as TenantState)).toEqual(byId(emu.state()));
    // A kill between the state file's rename and the journal's removal: the journal is replayed onto a state
    // file that already holds its writes.
    copyFileSync(kept, journalFileOf(file));
    expect(byId(reopened(file))).toEqual(byId(emu.state()));
    // load() on a bound tenant replaces the file at once.
    emu.load({ ...emu.state(), users: [] });
    expect(reopened(file).users).toEqual([]);
  });

  it("drops a last line torn by a kill mid-append; refuses a damaged line elsewhere, naming it without its contents", async () => {
    const file = join(tempDir(), "tenant.json");
    const emu = await writes(file);
    const live = emu.state();
    const whole = readFileSync(journalFileOf(file), "utf8");
    appendFileSync(journalFileOf(file), '{"op":"user","user":{"user_id":"auth0|torn","email":"torn@exam');
    expect(byId(reopened(file))).toEqual(byId(live));
    // The torn line is cut off, so the next append starts a line of its own.
    expect(readFileSync(journalFileOf(file), "utf8")).toBe(whole);

    writeFileSync(journalFileOf(file), `${whole.split("\n")[0]}\n{"op":"user","user":{"email":"eve@example.com"}}\n${whole.split("\n").slice(1).join("\n")}`);
    const err = (() => {
      try {
        reopened(file);
      } catch (e) {
        return e as Error;
      }
      throw new Error("expected a refusal");
    })();
    expect(err).toBeInstanceOf(TenantFileError);
    expect(err.message).toBe(`${journalFileOf(file)} is not a valid tenant journal (line 2 is not a record)`);
    writeFileSync(file, '{"users": [{"email": "eve@example.com"');
    expect(() => reopened(file)).toThrow(`${file} is not a valid tenant file (not JSON)`);
  });

  it("a new state file starts with the tenant as constructed (its roles keep their ids)", () => {
    const file = join(tempDir(), "tenant.json");
    const emu = new Auth0Emulator({ roles: ["admin"] });
    emu.persistTo(file);
    expect((JSON.parse(readFileSync(file, "utf8")) as TenantState).roles).toEqual(emu.state().roles);
    expect(reopened(file).roles.filter((r) => r.name === "admin")).toEqual(emu.state().roles);
    expect(() => emu.persistTo(file)).toThrow(/already persists/);
  });
});
