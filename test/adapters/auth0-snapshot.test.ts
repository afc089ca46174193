import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Auth0Error } from "../../functions/adapters/auth0/errors.js";
import { Auth0Snapshot, EXPORT_FIELDS, type SnapshotOptions, type SnapshotUser } from "../../functions/adapters/auth0/snapshot.js";
import type { Auth0Adapter } from "../../functions/adapters/auth0/client.js";
import { PROFILE_FIELDS } from "../../functions/core/fields.js";
import { DEFAULT_CONNECTION, type Auth0Emulator, type Auth0EmulatorOptions, type TenantUser } from "../../local/auth0-emulator.js";
import { adapterFor, bodyText, startEmulator, urlOf } from "../helpers/emulator.js";
import { rejection } from "../helpers/rejection.js";

const OTHER = "email";
const connections: Auth0EmulatorOptions["connections"] = [
  { name: DEFAULT_CONNECTION, strategy: "auth0" },
  { name: OTHER, strategy: "email" },
];

const pad = (i: number) => String(i).padStart(5, "0");

/** A stored user with every catalog field, some blocked, some with roles. */
function tenantUser(i: number, over: Partial<TenantUser> = {}): TenantUser {
  return {
    user_id: `auth0|u${pad(i)}`,
    connection: DEFAULT_CONNECTION,
    email: `user${i}@example.com`,
    email_verified: i % 2 === 0,
    given_name: `Given ${i}`,
    family_name: `Family ${i}`,
    name: `Name ${i}`,
    nickname: `nick${i}`,
    picture: `https://example.com/p/${i}.png`,
    phone_number: `+1555${pad(i)}`,
    username: `user_${i}`,
    ...(i % 10 === 0 ? { blocked: true } : {}),
    user_metadata: { n: i, nested: { deep: [i] } },
    app_metadata: i % 3 === 0 ? {} : { sync_key: `k${i}` },
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    hasPassword: true,
    roles: [],
    ...over,
  };
}

async function tenant(users: TenantUser[], opts: Auth0EmulatorOptions = {}): Promise<Auth0Emulator> {
  const emu = await startEmulator({ connections, exportJobDurationMs: 150, ...opts });
  emu.load({ users, roles: [], tickets: [], verificationEmails: [] });
  emu.clearLog();
  return emu;
}

const FAST: Partial<SnapshotOptions> = { poll: { initialMs: 20, maxMs: 80 } };

function snapshotFor(adapter: Auth0Adapter, over: Partial<SnapshotOptions> = {}): Auth0Snapshot {
  return new Auth0Snapshot(adapter, { connection: DEFAULT_CONNECTION, ...FAST, ...over });
}

async function all<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

const thrown = (p: Promise<unknown>): Promise<Auth0Error> => rejection(p, Auth0Error);

/** Requests the emulator logged, as "METHOD route status". */
const routes = (emu: Auth0Emulator) => emu.requestLog.map((e) => `${e.method} ${e.route} ${e.status}`);
const count = (emu: Auth0Emulator, prefix: string) => routes(emu).filter((r) => r.startsWith(prefix)).length;

async function completed(snap: Auth0Snapshot, jobId?: string): Promise<{ jobId: string; users: SnapshotUser[] }> {
  const r = await snap.readExport({ jobId, deadline: Date.now() + 10_000 });
  if (r.state !== "completed") throw new Error(`export still ${r.status}`);
  return { jobId: r.jobId, users: await all(r.users) };
}

describe("Auth0 snapshot adapter against the emulator", () => {
  it("exports every catalog field plus the identity and metadata", () => {
    expect(EXPORT_FIELDS.slice(0, 5)).toEqual(["user_id", "email", "blocked", "app_metadata", "user_metadata"]);
    for (const f of Object.keys(PROFILE_FIELDS)) expect(EXPORT_FIELDS).toContain(f);
    expect(new Set(EXPORT_FIELDS).size).toBe(EXPORT_FIELDS.length);
  });

  it("starts a job for the connection, hands its id over before polling, polls with backoff and streams the users", async () => {
    const emu = await tenant([tenantUser(1), tenantUser(2, { connection: OTHER, username: undefined })], { exportJobDurationMs: 300 });
    const bodies: unknown[] = [];
    const adapter = adapterFor(emu, {
      fetch: (input, init) => {
        if (urlOf(input).endsWith("/jobs/users-exports")) bodies.push(JSON.parse(bodyText(init)));
        return fetch(input, init);
      },
    });
    const snap = snapshotFor(adapter);
    const seen: { id: string; pollsBefore: number }[] = [];
    const started = Date.now();
    const r = await snap.readExport({
      deadline: Date.now() + 10_000,
      onJobStarted: (id) => void seen.push({ id, pollsBefore: count(emu, "GET /api/v2/jobs/:id") }),
    });
    expect(r.state).toBe("completed");
    if (r.state !== "completed") return;
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(seen).toEqual([{ id: r.jobId, pollsBefore: 0 }]);
    expect(r.jobId).toMatch(/^job_/);
    expect(bodies).toEqual([{ connection_id: emu.connectionId(DEFAULT_CONNECTION), format: "json", fields: EXPORT_FIELDS.map((name) => ({ name })) }]);
    // 20, 40, 80, 80... ms between polls: a 300 ms job is seen pending or processing a few times, not dozens.
    const polls = count(emu, "GET /api/v2/jobs/:id 200");
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(polls).toBeLessThanOrEqual(8);
    const users = await all(r.users);
    expect(users).toEqual([
      {
        user_id: "auth0|u00001",
        email: "user1@example.com",
        email_verified: false,
        given_name: "Given 1",
        family_name: "Family 1",
        name: "Name 1",
        nickname: "nick1",
        picture: "https://example.com/p/1.png",
        phone_number: "+155500001",
        username: "user_1",
        user_metadata: { n: 1, nested: { deep: [1] } },
        app_metadata: { sync_key: "k1" },
      },
    ]);
    expect(routes(emu).filter((x) => !x.startsWith("GET /api/v2/jobs/:id") && !x.startsWith("POST /oauth/token"))).toEqual([
      "GET /api/v2/connections 200",
      "POST /api/v2/jobs/users-exports 201",
    ]);
    expect(snap.stats).toMatchObject({ calls: 2 + polls, jobGets: polls, downloads: 1, locationRefreshes: 0, users: 1 });
  });

  it("streams 2,500 users with their fields, blocked users and empty metadata included", async () => {
    const N = 2_500;
    const emu = await tenant([...Array.from({ length: N }, (_, i) => tenantUser(i)), tenantUser(N, { connection: OTHER })]);
    const adapter = adapterFor(emu);
    const snap = snapshotFor(adapter);
    const { users } = await completed(snap);
    expect(users).toHaveLength(N);
    expect(new Set(users.map((u) => u.user_id)).size).toBe(N);
    expect(users.filter((u) => u.blocked === true)).toHaveLength(N / 10);
    expect(users.every((u) => u.blocked === true || u.blocked === undefined)).toBe(true);
    const u42 = users.find((u) => u.user_id === "auth0|u00042");
    expect(u42).toMatchObject({ email: "user42@example.com", email_verified: true, given_name: "Given 42", phone_number: "+155500042", username: "user_42", app_metadata: {} });
    expect(users.find((u) => u.user_id === "auth0|u00010")).toMatchObject({ blocked: true, user_metadata: { n: 10, nested: { deep: [10] } } });
    expect(snap.stats.users).toBe(N);
    // The download is neither a Management API call nor paced.
    expect(adapter.stats.calls).toBe(snap.stats.calls);
    expect(adapter.pacer.stats.acquired).toBe(snap.stats.calls);
  });

  it("yields the first users while the file is still arriving", async () => {
    const N = 2_000;
    const emu = await tenant(Array.from({ length: N }, (_, i) => tenantUser(i, { user_metadata: { blob: `${i}`.repeat(200 + (i % 50)) } })));
    emu.setExportJobSettings({ streamDelayMs: 60 });
    const snap = snapshotFor(adapterFor(emu));
    const r = await snap.readExport({ deadline: Date.now() + 10_000 });
    if (r.state !== "completed") throw new Error("not completed");
    const t0 = Date.now();
    let first = 0;
    let n = 0;
    for await (const _ of r.users) if (n++ === 0) first = Date.now() - t0;
    const total = Date.now() - t0;
    expect(n).toBe(N);
    expect(total).toBeGreaterThan(3 * 60);
    expect(first).toBeLessThan(total / 2);
  });

  it("sends no Authorization header with the download", async () => {
    const emu = await tenant([tenantUser(1)]);
    const downloads: Headers[] = [];
    const snap = snapshotFor(adapterFor(emu), {
      fetch: (input, init) => {
        downloads.push(new Headers(init?.headers));
        return fetch(input, init);
      },
    });
    expect((await completed(snap)).users).toHaveLength(1);
    expect(downloads).toHaveLength(1);
    expect(downloads[0]?.has("authorization")).toBe(false);
  });

  it("renews an expired location (403) by asking the job again", async () => {
    const emu = await tenant([tenantUser(1), tenantUser(2)], { exportLocationTtlMs: 100 });
    const statuses: number[] = [];
    const snap = snapshotFor(adapterFor(emu), {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        statuses.push(res.status);
        return res;
      },
    });
    const r = await snap.readExport({ deadline: Date.now() + 10_000 });
    if (r.state !== "completed") throw new Error("not completed");
    const pollsBefore = count(emu, "GET /api/v2/jobs/:id");
    await new Promise((res) => setTimeout(res, 150));
    expect((await all(r.users)).map((u) => u.user_id)).toEqual(["auth0|u00001", "auth0|u00002"]);
    expect(statuses).toEqual([403, 200]);
    expect(count(emu, "GET /api/v2/jobs/:id")).toBe(pollsBefore + 1);
    expect(snap.stats).toMatchObject({ downloads: 2, locationRefreshes: 1 });
  });

  it("gives up after a bounded number of expired locations, with a retryable error that shows no link", async () => {
    const emu = await tenant([tenantUser(1)], { exportLocationTtlMs: 0 });
    const snap = snapshotFor(adapterFor(emu), { downloadAttempts: 3 });
    const r = await snap.readExport({ deadline: Date.now() + 10_000 });
    if (r.state !== "completed") throw new Error("not completed");
    const e = await thrown(all(r.users));
    expect(e).toMatchObject({ retryable: true, kind: "server" });
    expect(e.message).toContain(`download of export ${r.jobId} failed 3 times, last: HTTP 403`);
    expect(e.message).not.toMatch(/Signature|http/);
    expect(snap.stats).toMatchObject({ downloads: 3, locationRefreshes: 2 });
  });

  it("a failed job is a permanent error naming the job", async () => {
    const emu = await tenant([tenantUser(1)]);
    emu.failNextExportJob();
    const snap = snapshotFor(adapterFor(emu));
    const ids: string[] = [];
    const e = await thrown(snap.readExport({ deadline: Date.now() + 10_000, onJobStarted: (id) => void ids.push(id) }));
    expect(e).toMatchObject({ retryable: false, kind: "rejected" });
    expect(e.message).toBe(`users export job ${ids[0]} failed (Auth0 gave no reason)`);
    // With a reason (the SDK's `status_details`), the reason is told, emails redacted.
    emu.failNextExportJob();
    const withReason = snapshotFor(
      adapterFor(emu, {
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          if (!/\/jobs\/job_/.test(urlOf(input))) return res;
          const job = (await res.json()) as Record<string, unknown>;
          if (job.status === "failed") job.status_details = "export failed for owner@example.com";
          return new Response(JSON.stringify(job), { status: res.status, headers: res.headers });
        },
      }),
    );
    const e2 = await thrown(withReason.readExport({ deadline: Date.now() + 10_000 }));
    expect(e2.message).toMatch(/^users export job job_\w+ failed: export failed for <email>$/);
  });

  it("retries a download that meets a 5xx, with a fresh link", async () => {
    const emu = await tenant([tenantUser(1)]);
    let n = 0;
    const snap = snapshotFor(adapterFor(emu), {
      fetch: (input, init) => (n++ === 0 ? Promise.resolve(new Response("busy", { status: 503 })) : fetch(input, init)),
    });
    expect((await completed(snap)).users).toHaveLength(1);
    expect(snap.stats).toMatchObject({ downloads: 2, locationRefreshes: 1 });
  });

  it("resumes a recorded job in a later invocation: polled again, never started twice", async () => {
    const emu = await tenant([tenantUser(1), tenantUser(2)], { exportJobDurationMs: 600 });
    // The first invocation runs out of time while the job runs.
    const first = snapshotFor(adapterFor(emu));
    let recorded: string | undefined;
    const r1 = await first.readExport({ deadline: Date.now() + 100, onJobStarted: (id) => void (recorded = id) });
    expect(r1).toMatchObject({ state: "running", jobId: recorded });
    expect(["pending", "processing"]).toContain(r1.state === "running" ? r1.status : "");
    // The second stops on its caller's signal.
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error("invocation ending")), 60);
    const r2 = await snapshotFor(adapterFor(emu)).readExport({ jobId: recorded, signal: ctl.signal });
    expect(r2).toMatchObject({ state: "running", jobId: recorded });
    expect(count(emu, "POST /api/v2/jobs/users-exports")).toBe(1);
    // The third finds it completed.
    emu.clearLog();
    const third = snapshotFor(adapterFor(emu));
    const { jobId, users } = await completed(third, recorded);
    expect(jobId).toBe(recorded);
    expect(users.map((u) => u.user_id)).toEqual(["auth0|u00001", "auth0|u00002"]);
    expect(count(emu, "POST /api/v2/jobs/users-exports")).toBe(0);
    expect(first.stats.calls).toBe(2 + first.stats.jobGets);
    expect(routes(emu)).toContain("GET /api/v2/jobs/:id 200");
    expect(third.stats.calls).toBe(emu.requestLog.filter((e) => e.route !== "/oauth/token").length);
  });

  it("a recorded job that no longer exists, or exports another connection, is a permanent error", async () => {
    const emu = await tenant([tenantUser(1)]);
    const e = await thrown(snapshotFor(adapterFor(emu)).readExport({ jobId: "job_0000000000000000" }));
    expect(e).toMatchObject({ retryable: false, kind: "not_found" });
    const other = snapshotFor(adapterFor(emu), { connection: OTHER });
    const otherJob = await other.startExport();
    const e2 = await thrown(snapshotFor(adapterFor(emu)).readExport({ jobId: otherJob }));
    expect(e2).toMatchObject({ retryable: false, kind: "rejected" });
    expect(e2.message).toContain(`exports another connection than ${DEFAULT_CONNECTION}`);
  });

  it("a connection that does not exist is a clear, permanent error", async () => {
    const emu = await tenant([]);
    const snap = snapshotFor(adapterFor(emu), { connection: "no-such-db" });
    const e = await thrown(snap.readExport());
    expect(e).toMatchObject({ retryable: false, kind: "not_found" });
    expect(e.message).toContain("connection no-such-db does not exist");
    expect(count(emu, "POST /api/v2/jobs/users-exports")).toBe(0);
  });

  it("reads plain NDJSON too, and names a malformed line without showing it", async () => {
    const emu = await tenant([tenantUser(1)]);
    const body = '{"user_id":"auth0|a","email":"a@example.com"}\n{"user_id":"auth0|b","email":"b@example.com"}\n{"user_id":"auth0|c","email":"secret@example.com"\n';
    for (const payload of [Buffer.from(body), gzipSync(Buffer.from(body))]) {
      const snap = snapshotFor(adapterFor(emu), { fetch: () => Promise.resolve(new Response(payload, { status: 200 })) });
      const r = await snap.readExport({ deadline: Date.now() + 10_000 });
      if (r.state !== "completed") throw new Error("not completed");
      const got: string[] = [];
      const e = await thrown(
        (async () => {
          for await (const u of r.users) got.push(u.user_id);
        })(),
      );
      expect(got).toEqual(["auth0|a", "auth0|b"]);
      expect(e.message).toBe(`export ${r.jobId}, line 3: not valid JSON`);
      expect(e.retryable).toBe(false);
      expect(JSON.stringify(e, Object.getOwnPropertyNames(e))).not.toContain("secret");
    }
    const noId = snapshotFor(adapterFor(emu), { fetch: () => Promise.resolve(new Response('{"email":"x@example.com"}\n')) });
    const r = await noId.readExport({ deadline: Date.now() + 10_000 });
    if (r.state !== "completed") throw new Error("not completed");
    expect((await thrown(all(r.users))).message).toBe(`export ${r.jobId}, line 1: not a user (no user_id)`);
  });

  it("asked for identities, a user line without them is a permanent error naming the line, never its content (review of issue 24, finding 3)", async () => {
    const emu = await tenant([tenantUser(1)]);
    const body = [
      '{"user_id":"auth0|a","email":"a@example.com","identities":[{"provider":"auth0","user_id":"a"}]}',
      '{"user_id":"google-oauth2|1234567","email":"secret@example.com"}',
      '{"user_id":"auth0|c","email":"c@example.com","identities":[{"provider":"auth0","user_id":"c"}]}',
    ].join("\n");
    const stub = () => Promise.resolve(new Response(body, { status: 200 }));
    const asking = snapshotFor(adapterFor(emu), { fetch: stub, extraFields: ["identities"] });
    const r = await asking.readExport({ deadline: Date.now() + 10_000 });
    if (r.state !== "completed") throw new Error("not completed");
    const got: string[] = [];
    const e = await thrown(
      (async () => {
        for await (const u of r.users) got.push(u.user_id);
      })(),
    );
    expect(got).toEqual(["auth0|a"]);
    expect(e.message).toBe(`export ${r.jobId}, line 2: the user has no identities, which the export asked for, so a linked account's id could not be hidden (nothing is copied unguarded)`);
    expect(e).toMatchObject({ retryable: false, kind: "server" });
    for (const personal of ["secret", "1234567", "google"]) expect(JSON.stringify(e, Object.getOwnPropertyNames(e))).not.toContain(personal);
    // Not asked for, identities may be absent (a warehouse sync's reconcile never reads them).
    const plain = snapshotFor(adapterFor(emu), { fetch: stub });
    const read = await plain.readExport({ deadline: Date.now() + 10_000 });
    if (read.state !== "completed") throw new Error("not completed");
    expect((await all(read.users)).map((u) => u.user_id)).toEqual(["auth0|a", "google-oauth2|1234567", "auth0|c"]);
  });

  it("lists a role's members across checkpoint pages of 100", async () => {
    const users = Array.from({ length: 250 }, (_, i) => tenantUser(i, { roles: i % 5 === 0 ? ["admin", "viewer"] : ["admin"] }));
    const emu = await tenant([...users, tenantUser(900)]);
    const adapter = adapterFor(emu);
    const snap = snapshotFor(adapter);
    const admins = await all(snap.roleMembers("admin"));
    expect(admins).toHaveLength(250);
    expect(new Set(admins)).toEqual(new Set(users.map((u) => u.user_id)));
    expect(count(emu, "GET /api/v2/roles/:id/users 200")).toBe(3);
    expect(await all(snap.roleMembers("viewer"))).toHaveLength(50);
    expect(count(emu, "GET /api/v2/roles/:id/users 200")).toBe(4);
    // The role ids come from the adapter's role map: one GET /roles for both.
    expect(count(emu, "GET /api/v2/roles 200")).toBe(1);
    expect(snap.stats.calls).toBe(4);
    const e = await thrown(all(snap.roleMembers("nope")));
    expect(e).toMatchObject({ kind: "unknown_role", retryable: false });
  });

  it("counts its Management API calls, which the adapter's figure includes", async () => {
    const emu = await tenant(Array.from({ length: 120 }, (_, i) => tenantUser(i, { roles: ["admin"] })));
    const adapter = adapterFor(emu);
    const snap = snapshotFor(adapter);
    await completed(snap);
    await all(snap.roleMembers("admin"));
    const management = emu.requestLog.filter((e) => e.route !== "/oauth/token" && e.route !== "/api/v2/roles").length;
    expect(snap.stats.calls).toBe(management);
    expect(adapter.stats.calls).toBe(management + 1);
  });
});
