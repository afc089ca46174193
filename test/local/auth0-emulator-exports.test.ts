import { gunzipSync } from "node:zlib";
import { ManagementError } from "auth0";
import { ConnectionsClient } from "auth0/connections";
import { JobsClient } from "auth0/jobs";
import { describe, expect, it } from "vitest";
import type { Auth0Emulator } from "../../local/auth0-emulator.js";
import { DEFAULT_CONNECTION } from "../../local/auth0-emulator.js";
import { sdkFor, startEmulator } from "../helpers/emulator.js";
import { rejection } from "../helpers/rejection.js";

const PASSWORD = "Correct-Horse-9-Battery";
const CONNECTIONS = [
  { name: DEFAULT_CONNECTION, strategy: "auth0" as const },
  { name: "email", strategy: "email" as const },
  { name: "Partners-DB", strategy: "auth0" as const },
];

/** The SDK's users, connections and jobs clients, and a plain authorized fetch, all pointed at the emulator. */
function clients(emu: Auth0Emulator) {
  const sdk = sdkFor(emu);
  const options = { baseUrl: `${emu.baseUrl}/api/v2`, token: () => sdk.tokens.getAccessToken(), maxRetries: 0 };
  const api = async (path: string): Promise<Response> => fetch(`${emu.baseUrl}/api/v2${path}`, { headers: { authorization: `Bearer ${await sdk.tokens.getAccessToken()}` } });
  return { users: sdk.users, connections: new ConnectionsClient(options), jobs: new JobsClient(options), api };
}

const failure = (p: Promise<unknown>): Promise<ManagementError> => rejection(p, ManagementError);

/** Polls a job every 10 ms until it ends; returns the statuses seen, in order, without repeats, and the last job. */
async function poll(jobs: JobsClient, id: string) {
  const seen: string[] = [];
  for (;;) {
    const job = await jobs.get(id);
    if (seen.at(-1) !== job.status) seen.push(job.status);
    if (job.status === "completed" || job.status === "failed") return { seen, job };
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function download(location: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(location);
  expect(res.status).toBe(200);
  const text = gunzipSync(Buffer.from(await res.arrayBuffer())).toString("utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text.trimEnd().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function seed(emu: Auth0Emulator) {
  const { users } = clients(emu);
  const ada = await users.create({ connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD, name: "Ada", user_metadata: { plan: "pro" }, app_metadata: { tier: 1 } });
  const bob = await users.create({ connection: DEFAULT_CONNECTION, email: "bob@example.com", password: PASSWORD });
  await users.create({ connection: "email", email: "eve@example.com" });
  return { ada, bob };
}

describe("Auth0 emulator: connections by name", () => {
  it("gives every connection a stable id and finds it by exact name through the SDK", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS });
    const { connections } = clients(emu);
    const page = await connections.list({ name: DEFAULT_CONNECTION });
    expect(page.data).toHaveLength(1);
    const [conn] = page.data;
    expect(conn).toMatchObject({ name: DEFAULT_CONNECTION, strategy: "auth0" });
    expect(conn?.id).toMatch(/^con_[A-Za-z0-9]{16}$/);
    expect(conn?.id).toBe(emu.connectionId(DEFAULT_CONNECTION));
    const again = await startEmulator({ connections: CONNECTIONS });
    expect(again.connectionId(DEFAULT_CONNECTION)).toBe(conn?.id);
    expect(new Set(CONNECTIONS.map((c) => emu.connectionId(c.name))).size).toBe(3);
    expect((await connections.list({ name: "username-password-authentication" })).data).toEqual([]);
    const all: string[] = [];
    for await (const c of await connections.list({ take: 1 })) all.push(c.name ?? "");
    expect(all.sort()).toEqual(CONNECTIONS.map((c) => c.name).sort());
  });

  it("filters by strategy, selects fields and pages with totals", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS });
    const { api } = clients(emu);
    const totals = (await (await api("/connections?strategy=auth0&include_totals=true&per_page=1&page=1")).json()) as Record<string, unknown>;
    expect(totals).toMatchObject({ start: 1, limit: 1, total: 2, connections: [{ name: "Partners-DB" }] });
    expect(await (await api("/connections?name=email&fields=id,name")).json()).toEqual([{ id: emu.connectionId("email"), name: "email" }]);
    const without = (await (await api("/connections?name=email&fields=id,name&include_fields=false")).json()) as Record<string, unknown>[];
    expect(without[0]).toMatchObject({ strategy: "email" });
    expect(without[0]).not.toHaveProperty("id");
    expect(await (await api("/connections?strategy=email&strategy=auth0")).json()).toHaveLength(3);
  });
});

describe("Auth0 emulator: bulk user export jobs", () => {
  it("runs a job pending -> processing -> completed and serves gzipped NDJSON with the selected fields", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS });
    const { ada, bob } = await seed(emu);
    const { jobs } = clients(emu);
    const connectionId = emu.connectionId(DEFAULT_CONNECTION);
    const fields = [
      { name: "user_id" },
      { name: "email", export_as: "mail" },
      { name: "user_metadata.plan", export_as: "plan" },
      { name: "identities[0].connection", export_as: "provider" },
      { name: "app_metadata" },
    ];
    const created = await jobs.usersExports.create({ connection_id: connectionId, format: "json", fields });
    expect(created).toMatchObject({ type: "users_export", status: "pending", connection_id: connectionId, connection: DEFAULT_CONNECTION, format: "json", fields });
    expect(created.id).toMatch(/^job_[A-Za-z0-9]{16}$/);
    expect(Date.parse(created.created_at ?? "")).toBeGreaterThan(0);
    const { seen, job } = await poll(jobs, created.id);
    expect(seen).toEqual(["pending", "processing", "completed"]);
    expect(job.location).toMatch(new RegExp(`^${emu.baseUrl}/`));
    const lines = await download(job.location ?? "");
    expect(lines).toEqual([
      { user_id: ada.user_id, mail: "ada@example.com", plan: "pro", provider: DEFAULT_CONNECTION, app_metadata: { tier: 1 } },
      { user_id: bob.user_id, mail: "bob@example.com", provider: DEFAULT_CONNECTION, app_metadata: {} },
    ]);
    expect(emu.counters().byEndpoint).toMatchObject({ "POST /api/v2/jobs/users-exports 201": 1, "GET /api/v2/jobs/:id 200": expect.any(Number) });
  });

  it("exports the users as they were at completion, honours limit, and uses default fields without fields", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS, exportJobDurationMs: 60 });
    const { ada } = await seed(emu);
    const { jobs, users } = clients(emu);
    const all = await jobs.usersExports.create({ format: "json" });
    expect(all).not.toHaveProperty("connection_id");
    const done = (await poll(jobs, all.id)).job;
    await users.update(ada.user_id ?? "", { user_metadata: { plan: "free" }, name: "Ada L." });
    await users.create({ connection: DEFAULT_CONNECTION, email: "late@example.com", password: PASSWORD });
    const lines = await download(done.location ?? "");
    expect(lines.map((l) => l.email)).toEqual(["ada@example.com", "bob@example.com", "eve@example.com"]);
    expect(lines[0]).toMatchObject({ user_id: ada.user_id, email: "ada@example.com", name: "Ada", email_verified: false });
    expect(Object.keys(lines[0] ?? {})).not.toContain("user_metadata");
    const limited = await jobs.usersExports.create({ format: "json", limit: 2, fields: [{ name: "email" }, { name: "user_metadata" }] });
    const later = await download((await poll(jobs, limited.id)).job.location ?? "");
    expect(later).toEqual([{ email: "ada@example.com", user_metadata: { plan: "free" } }, { email: "bob@example.com", user_metadata: {} }]);
  });

  it("expires a location with S3's 403 and hands out a fresh one on each read of the job", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS, exportJobDurationMs: 30, exportLocationTtlMs: 80 });
    await seed(emu);
    const { jobs } = clients(emu);
    const { job } = await poll(jobs, (await jobs.usersExports.create({ format: "json", fields: [{ name: "email" }] })).id);
    await new Promise((r) => setTimeout(r, 120));
    const expired = await fetch(job.location ?? "");
    expect(expired.status).toBe(403);
    expect(expired.headers.get("content-type")).toContain("application/xml");
    expect(await expired.text()).toMatch(/<Error><Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
    const fresh = await jobs.get(job.id);
    expect(fresh.location).not.toBe(job.location);
    expect(await download(fresh.location ?? "")).toHaveLength(3);
    const forged = new URL(fresh.location ?? "");
    forged.searchParams.set("X-Amz-Signature", "0".repeat(64));
    expect((await fetch(forged)).status).toBe(403);
  });

  it("serves downloads without a token and outside the rate limit, and can stream them slowly", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS, exportJobDurationMs: 30 });
    await seed(emu);
    const { jobs, api } = clients(emu);
    const { job } = await poll(jobs, (await jobs.usersExports.create({ format: "json" })).id);
    emu.setRateLimit(0.01, 1);
    await api("/connections");
    expect((await api("/connections")).status).toBe(429);
    emu.setExportJobSettings({ streamDelayMs: 40 });
    const started = Date.now();
    expect(await download(job.location ?? "")).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    expect(emu.requestLog.some((e) => e.route.includes("user-exports"))).toBe(false);
  });

  it("fails the next job on request, answers 404 for an unknown job and 400 for bad bodies", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS, exportJobDurationMs: 30 });
    const { jobs } = clients(emu);
    emu.failNextExportJob();
    const failed = await poll(jobs, (await jobs.usersExports.create({ format: "json" })).id);
    expect(failed.seen.at(-1)).toBe("failed");
    expect(failed.job).not.toHaveProperty("location");
    expect((await poll(jobs, (await jobs.usersExports.create({ format: "json" })).id)).seen.at(-1)).toBe("completed");
    const missing = await failure(jobs.get("job_AAAAAAAAAAAAAAAA"));
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toEqual({ statusCode: 404, error: "Not Found", message: "The job does not exist.", errorCode: "inexistent_job" });
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ format: "json", colour: "red" }, /Additional properties not allowed: colour/],
      [{ format: "json", connection_id: "Username-Password-Authentication" }, /does not match pattern .* on property connection_id/],
      [{ format: "json", connection_id: "con_AAAAAAAAAAAAAAAA" }, /The connection does not exist/],
      [{ format: "xml" }, /No enum match for: "xml"' on property format/],
      [{ format: "csv" }, /csv export is not supported by the emulator/],
      [{ format: "json", limit: 0 }, /less than minimum 1/],
      [{ format: "json", fields: [{ export_as: "x" }] }, /Missing required property: name/],
    ];
    for (const [body, message] of bad) {
      const e = await failure(jobs.usersExports.create(body));
      expect(e.statusCode).toBe(400);
      expect(e.body).toEqual({ statusCode: 400, error: "Bad Request", message: expect.stringMatching(message), errorCode: expect.any(String) });
    }
  });
});
