import { describe, expect, it } from "vitest";
import { Auth0Error } from "../../functions/adapters/auth0/errors.js";
import { Pacer } from "../../functions/adapters/auth0/pacer.js";
import { PacerSet } from "../../functions/adapters/auth0/pacers.js";
import { randomPassword } from "../../functions/adapters/auth0/password.js";
import { auth0OptionsFromConfig } from "../../functions/adapters/auth0/client.js";
import { createBody } from "../../functions/core/write-plan.js";
import type { DesiredProfile } from "../../functions/core/types.js";
import { DEFAULT_CONNECTION } from "../../local/auth0-emulator.js";
import { testConfig } from "../helpers/config.js";
import { adapterFor, maxInWindow, startEmulator, urlOf } from "../helpers/emulator.js";
import { rejection } from "../helpers/rejection.js";

const profile = (i: number, over: Partial<DesiredProfile> = {}): DesiredProfile => ({
  key: `k${i}`,
  email: `user${i}@example.com`,
  fields: { given_name: `User ${i}` },
  user_metadata: { n: i },
  app_metadata: { sync_key: `k${i}` },
  createOnly: [],
  ...over,
});

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

const thrown = (p: Promise<unknown>): Promise<Auth0Error> => rejection(p, Auth0Error);

describe("Auth0 adapter against the emulator", () => {
  it("takes its settings from the config, with AUTH0_BASE_URL overriding the base URL", () => {
    const cfg = testConfig({ auth0: { domain: "acme.eu.auth0.com", connection: "db", baseUrl: "http://127.0.0.1:1" } });
    const creds = { clientId: "id", clientSecret: "secret" };
    expect(auth0OptionsFromConfig(cfg, creds, {}).baseUrl).toBe("http://127.0.0.1:1");
    expect(auth0OptionsFromConfig(cfg, creds, { AUTH0_BASE_URL: "http://127.0.0.1:2" }).baseUrl).toBe("http://127.0.0.1:2");
    const o = auth0OptionsFromConfig(testConfig(), creds, {});
    expect(o.baseUrl).toBeUndefined();
    const pacers = o.pacer as PacerSet;
    expect(pacers.forGroup("writeUsers").rate).toBe(16);
    expect(pacers.forGroup("writeUsers").burst).toBe(50);
    expect(pacers.forGroup("other")).toBe(pacers.forGroup("readUsers"));
    expect(auth0OptionsFromConfig(testConfig(), creds, {}).pacer).toBe(o.pacer);
  });

  it("creates with a random password, finds by email in the configured connection only, patches, blocks and deletes", async () => {
    const emu = await startEmulator({ connections: [{ name: DEFAULT_CONNECTION, strategy: "auth0" }, { name: "email", strategy: "email" }] });
    const other = adapterFor(emu, { connection: "email", connectionType: "passwordless" });
    await other.create({ email: "ada@example.com", given_name: "Other" });
    const a = adapterFor(emu);
    expect(await a.findByEmail("ada@example.com")).toBeNull();
    const u = await a.create({ email: "ada@example.com", given_name: "Ada" });
    expect((await a.findByEmail("ADA@example.com"))?.user_id).toBe(u.user_id);
    expect(emu.state().verificationEmails).toEqual([]);
    const tenant = emu.state().users.find((x) => x.user_id === u.user_id)!;
    expect(tenant.hasPassword).toBe(true);
    expect(tenant.connection).toBe(DEFAULT_CONNECTION);
    expect((await a.patch(u.user_id, { given_name: null, user_metadata: { plan: "pro" } })).user_metadata).toEqual({ plan: "pro" });
    expect((await a.block(u.user_id)).blocked).toBe(true);
    await a.delete(u.user_id);
    expect(await a.getById(u.user_id)).toBeNull();
  });

  it("asks Auth0 for a verification email only when the config says so", async () => {
    const emu = await startEmulator();
    const u = await adapterFor(emu, { verifyEmail: true }).create({ email: "ada@example.com" });
    await adapterFor(emu, { verifyEmail: false }).create({ email: "bob@example.com" });
    expect(emu.state().verificationEmails).toEqual([u.user_id]);
  });

  it("splits an email + username change into two calls, as Auth0 requires", async () => {
    const emu = await startEmulator({ connections: [{ name: DEFAULT_CONNECTION, strategy: "auth0", requiresUsername: true }] });
    const a = adapterFor(emu);
    const u = await a.create({ email: "ada@example.com", username: "ada" });
    const after = await a.patch(u.user_id, { email: "ada@new.example", username: "ada2" });
    expect(after).toMatchObject({ email: "ada@new.example", username: "ada2" });
    expect(emu.counters().byEndpoint["PATCH /api/v2/users/:id 200"]).toBe(2);
  });

  it("a burst of 200 writes at a 20 rps budget gets no 429 and never exceeds the bucket in any one-second window", async () => {
    const rate = 20;
    const burst = 20;
    const emu = await startEmulator({ rate, burst });
    const a = adapterFor(emu, { pacer: new Pacer({ rate, burst }) });
    const started = Date.now();
    await pool(
      Array.from({ length: 200 }, (_, i) => i),
      25,
      (i) => a.create(createBody(profile(i))),
    );
    const elapsed = Date.now() - started;
    const log = emu.requestLog.filter((e) => e.route.startsWith("/api/v2/"));
    expect(log).toHaveLength(200);
    expect(log.filter((e) => e.status === 429)).toHaveLength(0);
    expect(emu.state().users).toHaveLength(200);
    const times = log.map((e) => e.t);
    // A token bucket admits at most burst + rate x 1 s in any second; once the burst is spent, the rate alone.
    expect(maxInWindow(times, 1000)).toBeLessThanOrEqual(burst + rate);
    expect(maxInWindow(times, 1000, Math.min(...times) + 1500)).toBeLessThanOrEqual(rate + 1);
    // And the budget is used, not wasted: (200 - burst) / rate = 9 s at best.
    expect(elapsed).toBeGreaterThanOrEqual(8_500);
    expect(elapsed).toBeLessThan(12_000);
  }, 30_000);

  it("a forced 429 storm is waited out per x-ratelimit-reset and every write still lands", async () => {
    const emu = await startEmulator({ rate: 50, burst: 50 });
    const a = adapterFor(emu, { pacer: new Pacer({ rate: 50, burst: 50 }) });
    const stormMs = 2000;
    emu.storm429(stormMs);
    const stormEnd = Date.now() + stormMs;
    await pool(
      Array.from({ length: 40 }, (_, i) => i),
      10,
      (i) => a.create(createBody(profile(i))),
    );
    expect(emu.state().users).toHaveLength(40);
    const log = emu.requestLog.filter((e) => e.route.startsWith("/api/v2/"));
    const throttled = log.filter((e) => e.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    // One wave of 429s (the requests in flight when the storm began), not a retry hammer.
    expect(throttled.length).toBeLessThanOrEqual(10);
    // Nothing succeeded before the reset the emulator announced (the storm's end, rounded up to the second).
    const firstOk = Math.min(...log.filter((e) => e.status === 201).map((e) => e.t));
    expect(firstOk).toBeGreaterThanOrEqual(Math.floor(stormEnd / 1000) * 1000);
    expect(a.stats.status429).toBe(throttled.length);
    expect(a.stats.retries).toBe(0);
  });

  it("retries 5xx answers within the call; a create that landed before its 5xx meets a 409 on the retry, reported as a conflict", async () => {
    const emu = await startEmulator({ faults: { failRate: 0.3, failAfterWriteShare: 1 }, seed: 7 });
    const a = adapterFor(emu, { maxRetries: 6 });
    const outcomes: string[] = [];
    await pool(
      Array.from({ length: 30 }, (_, i) => i),
      5,
      async (i) => {
        try {
          await a.create(createBody(profile(i)));
          outcomes.push("created");
        } catch (err) {
          // The adapter translates; what a 409 means for the row is the consumer's decision (test/functions).
          if (err instanceof Auth0Error && err.kind === "conflict" && !err.retryable) outcomes.push("conflict");
          else throw err;
        }
      },
    );
    const users = emu.state().users;
    expect(users).toHaveLength(30);
    expect(new Set(users.map((u) => u.email)).size).toBe(30);
    expect(users.every((u) => u.given_name?.startsWith("User "))).toBe(true);
    expect(a.stats.retries).toBeGreaterThan(0);
    // Some creates went through although Auth0 answered 5xx: the retry met a 409.
    expect(emu.counters().byEndpoint["POST /api/v2/users 409"]).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === "conflict")).toHaveLength(emu.counters().byEndpoint["POST /api/v2/users 409"] ?? 0);
    expect(outcomes.filter((o) => o === "created").length).toBeLessThan(30);
  });

  it("classifies failures: retryable (5xx, timeout) versus permanent (400, 404), keeping Auth0's message without emails", async () => {
    const emu = await startEmulator();
    const a = adapterFor(emu, { maxRetries: 1 });
    const bad = await thrown(a.create({ email: "someone@nodot" }));
    expect(bad).toMatchObject({ retryable: false, kind: "rejected", statusCode: 400, errorCode: "invalid_body" });
    expect(bad.message).toContain("Payload validation error");
    expect(bad.message).not.toContain("someone@nodot");
    expect(bad.rejectCode).toBe("auth0_rejected");
    const gone = await thrown(a.patch("auth0|000000000000000000000000", { given_name: "x" }));
    expect(gone).toMatchObject({ retryable: false, kind: "not_found", statusCode: 404 });
    emu.setFaults({ failRate: 1 });
    const down = await thrown(a.findByEmail("a@example.com"));
    expect(down).toMatchObject({ retryable: true, kind: "server" });
    expect(a.stats.retries).toBe(1);
    emu.setFaults({ failRate: 0, latencyMs: 400 });
    const slow = adapterFor(emu, { timeoutMs: 100, maxRetries: 1 });
    await slow.findByEmail("warm@example.com").catch(() => undefined);
    const late = await thrown(slow.findByEmail("a@example.com"));
    expect(late).toMatchObject({ retryable: true, kind: "timeout" });
  });

  it("treats bad credentials as retryable (no row is at fault) and refreshes a token that expired mid-run", async () => {
    const emu = await startEmulator();
    const wrong = adapterFor(emu, { credentials: { clientId: "x", clientSecret: "y" } });
    expect(await thrown(wrong.findByEmail("a@example.com"))).toMatchObject({ retryable: true, kind: "auth" });
    const a = adapterFor(emu);
    await a.findByEmail("a@example.com");
    emu.expireAllTokens();
    await a.create({ email: "a@example.com" });
    expect(a.stats.tokenFetches).toBe(2);
    expect(emu.state().users).toHaveLength(1);
  });

  it("rejects several candidates in the connection as ambiguous, never guessing", async () => {
    const emu = await startEmulator();
    const seed = adapterFor(emu);
    await seed.create({ email: "ada@example.com" });
    // Auth0 can hold legacy duplicates the emulator refuses to create: double the answer on the wire.
    const doubling: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!urlOf(input).includes("users-by-email")) return res;
      const users = (await res.json()) as unknown[];
      return new Response(JSON.stringify([...users, ...users]), { status: 200, headers: res.headers });
    };
    const a = adapterFor(emu, { fetch: doubling });
    const e = await thrown(a.findByEmail("ada@example.com"));
    expect(e).toMatchObject({ retryable: false, kind: "ambiguous" });
    expect(e.rejectCode).toBe("ambiguous_user");
  });

  it("resolves role names to ids once per process, and names unknown roles", async () => {
    const emu = await startEmulator({ roles: ["admin", "editor", "viewer"] });
    const a = adapterFor(emu);
    const u = await a.create({ email: "ada@example.com" });
    await a.assignRoles(u.user_id, ["admin", "viewer"]);
    await a.removeRoles(u.user_id, ["viewer"]);
    expect(await a.userRoles(u.user_id)).toEqual(["admin"]);
    const e = await thrown(a.assignRoles(u.user_id, ["admin", "ghost"]));
    expect(e).toMatchObject({ retryable: false, kind: "unknown_role", message: "unknown role: ghost (not defined in the tenant)" });
    expect(emu.counters().byEndpoint["GET /api/v2/roles 200"]).toBe(1);
  });

  it("creates password-change tickets (invitations)", async () => {
    const emu = await startEmulator();
    const a = adapterFor(emu);
    const u = await a.create({ email: "ada@example.com" });
    expect(await a.passwordChangeTicket(u.user_id, { resultUrl: "https://app.example/", ttlSec: 600, markEmailAsVerified: true })).toMatch(/ticket=/);
  });
});

describe("the token endpoint's own limit", () => {
  it("60 instances fetching their token at once: the 429s of /oauth/token are waited out, every call succeeds", async () => {
    const emu = await startEmulator({ rate: 1000, burst: 1000 });
    const adapters = Array.from({ length: 60 }, () => adapterFor(emu, { maxRetries: 0 }));
    const found = await Promise.all(adapters.map((a, i) => a.findByEmail(`nobody${i}@example.com`)));
    expect(found.every((u) => u === null)).toBe(true);
    const token = emu.requestLog.filter((e) => e.route === "/oauth/token");
    expect(token.filter((e) => e.status === 429).length).toBeGreaterThan(0);
    expect(token.filter((e) => e.status === 200)).toHaveLength(60);
    expect(emu.requestLog.filter((e) => e.route !== "/oauth/token").every((e) => e.status === 200)).toBe(true);
  }, 60_000);
});

describe("generated passwords", () => {
  it("are long, use all four classes, never repeat a character three times, and are all different", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const p = randomPassword();
      expect(p).toHaveLength(32);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/[0-9]/);
      expect(p).toMatch(/[^A-Za-z0-9]/);
      expect(p).not.toMatch(/(.)\1\1/);
      seen.add(p);
    }
    expect(seen.size).toBe(2000);
  });
});
