import { join } from "node:path";
import { Management } from "auth0";
import { JobsClient } from "auth0/jobs";
import { describe, expect, it } from "vitest";
import { endpointGroupOf } from "../../functions/core/rate-limits.js";
import { Auth0Emulator, DEFAULT_CONNECTION, type Auth0EmulatorOptions } from "../../local/auth0-emulator.js";
import { groupOfRoute, routeOf } from "../../local/auth0-emulator-limits.js";
import { apiCall, apiToken as token, importCall as importUsers, startEmulator } from "../helpers/emulator.js";
import { rejection } from "../helpers/rejection.js";
import { tempDir } from "../helpers/tmp.js";

const PASSWORD = "Correct-Horse-9-Battery";
const CONNECTIONS = [
  { name: DEFAULT_CONNECTION, strategy: "auth0" as const },
  { name: "email", strategy: "email" as const },
];
/** Fast jobs unless a test wants to watch one run. */
const FAST: Auth0EmulatorOptions = { connections: CONNECTIONS, importUsersPerSecond: 1_000_000 };
const ACTIVE_429 = "There are 2 active import users jobs, please wait until some of them are finished and try again";

type Job = Record<string, unknown> & { id: string; status: string };

async function created(res: Response): Promise<Job> {
  expect(res.status).toBe(202);
  return (await res.json()) as Job;
}

async function getJob(emu: Auth0Emulator, id: string): Promise<Job> {
  const res = await apiCall(emu, "GET", `/jobs/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Job;
}

/** Polls a job every 10 ms until it ends; the statuses seen in order (no repeats), the jobs seen, the last one. */
async function poll(emu: Auth0Emulator, id: string) {
  const seen: string[] = [];
  const jobs: Job[] = [];
  for (;;) {
    const job = await getJob(emu, id);
    jobs.push(job);
    if (seen.at(-1) !== job.status) seen.push(job.status);
    if (job.status === "completed" || job.status === "failed") return { seen, jobs, job };
    await new Promise((r) => setTimeout(r, 10));
  }
}

const people = (n: number, prefix = "user") => Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com`, user_id: `${prefix}-${i}` }));

describe("Auth0 emulator: bulk user import jobs", () => {
  it("answers 202 with the job; send_completion_email defaults to true (one email when the job ends), false sends none", async () => {
    const emu = await startEmulator(FAST);
    const job = await created(await importUsers(emu, [{ email: "ada@example.com" }]));
    expect(job).toEqual({
      status: "pending",
      type: "users_import",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      id: expect.stringMatching(/^job_[A-Za-z0-9]{16}$/) as unknown,
      connection_id: emu.connectionId(DEFAULT_CONNECTION),
      connection: DEFAULT_CONNECTION,
      upsert: false,
      send_completion_email: true,
    });
    expect((await poll(emu, job.id)).job.summary).toEqual({ failed: 0, updated: 0, inserted: 1, total: 1 });
    expect(emu.importStats()).toEqual({ jobs: 1, completionEmails: 1, usersInserted: 1, usersUpdated: 0, usersFailed: 0 });

    const quiet = await created(await importUsers(emu, [{ email: "bob@example.com" }], { send_completion_email: "false", external_id: "batch-7" }));
    expect(quiet).toMatchObject({ send_completion_email: false, external_id: "batch-7" });
    expect((await poll(emu, quiet.id)).job).toMatchObject({ status: "completed", external_id: "batch-7" });
    expect(emu.importStats()).toMatchObject({ jobs: 2, completionEmails: 1, usersInserted: 2 });
  });

  it("refuses a payload over 512,000 bytes (413) and takes a file of 400 KB", async () => {
    const emu = await startEmulator(FAST);
    const padded = (n: number, size: number) => Array.from({ length: n }, (_, i) => ({ email: `p${i}@example.com`, user_metadata: { note: "x".repeat(size) } }));
    const tooBig = JSON.stringify(padded(500, 1_000));
    expect(tooBig.length).toBeGreaterThan(512_000);
    const res = await importUsers(emu, tooBig);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ statusCode: 413, error: "Request Entity Too Large", message: "Payload content length greater than maximum allowed: 512000" });
    const fits = JSON.stringify(padded(400, 960));
    expect(fits.length).toBeGreaterThan(390_000);
    expect(fits.length).toBeLessThan(410_000);
    const job = await created(await importUsers(emu, fits, { send_completion_email: "false" }));
    expect((await poll(emu, job.id)).job.summary).toEqual({ failed: 0, updated: 0, inserted: 400, total: 400 });
    expect(emu.importStats().jobs).toBe(1);
  });

  it("takes only an existing database connection and a well-formed request (400 otherwise); a file that is not an array fails the job", async () => {
    const emu = await startEmulator(FAST);
    const refusal = async (res: Response) => {
      expect(res.status).toBe(400);
      return ((await res.json()) as { message: string }).message;
    };
    expect(await refusal(await importUsers(emu, [], { connection_id: emu.connectionId("email") }))).toBe("Connection must be a database connection.");
    expect(await refusal(await importUsers(emu, [], { connection_id: "con_AAAAAAAAAAAAAAAA" }))).toBe("The connection does not exist.");
    expect(await refusal(await importUsers(emu, [], { connection_id: "Username-Password-Authentication" }))).toBe(
      "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' on property connection_id.",
    );
    expect(await refusal(await importUsers(emu, [], { upsert: "yes" }))).toBe("Payload validation error: 'Expected type boolean but found type string' on property upsert.");
    expect(await refusal(await importUsers(emu, ""))).toBe("Users file must not be empty.");
    const auth = { authorization: `Bearer ${await token(emu)}` };
    const url = `${emu.baseUrl}/api/v2/jobs/users-imports`;
    const noFile = new FormData();
    noFile.append("connection_id", emu.connectionId(DEFAULT_CONNECTION));
    expect(await refusal(await fetch(url, { method: "POST", headers: auth, body: noFile }))).toBe("Must provide 'users' file as multipart part.");
    const json = await fetch(url, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ users: [] }) });
    expect(await refusal(json)).toBe("Payload validation error: 'Invalid multipart payload format'.");
    expect(emu.importStats().jobs).toBe(0);

    // Auth0 accepts a file it cannot parse and fails the job (its completion email says so).
    const job = await created(await importUsers(emu, '{"email":"ada@example.com"}'));
    const { job: failed } = await poll(emu, job.id);
    expect(failed).toMatchObject({ status: "failed", summary: { failed: 0, updated: 0, inserted: 0, total: 0 } });
    const errors = await apiCall(emu, "GET", `/jobs/${job.id}/errors`);
    expect(errors.status).toBe(200);
    expect(await errors.json()).toMatchObject({ id: job.id, type: "users_import", status: "failed", status_details: expect.stringContaining("parse") as unknown });
    expect((await apiCall(emu, "GET", "/jobs/job_AAAAAAAAAAAAAAAA")).status).toBe(404);
  });

  it("lets 2 jobs be active at once: a third gets 429 with Auth0's message and the rate-limit headers, and may start once one ends", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS, importUsersPerSecond: 1 });
    const first = await created(await importUsers(emu, people(1_000, "a")));
    await created(await importUsers(emu, people(1_000, "b")));
    const third = await importUsers(emu, people(10, "c"));
    expect(third.status).toBe(429);
    expect(await third.json()).toEqual({ statusCode: 429, error: "Too Many Requests", message: ACTIVE_429 });
    for (const h of ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]) expect(third.headers.get(h)).toMatch(/^\d+$/);
    expect(emu.requestLog.at(-1)).toMatchObject({ route: "/api/v2/jobs/users-imports", status: 429, bucket: "global" });
    expect(emu.importStats().jobs).toBe(2);
    emu.setImportJobSettings({ usersPerSecond: 1_000_000 });
    expect((await poll(emu, first.id)).job.status).toBe("completed");
    await created(await importUsers(emu, people(10, "c")));
  });

  it("goes pending -> processing -> completed at the set rate, inserting users as it goes", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS, importUsersPerSecond: 200 });
    emu.setImportJobSettings({ pendingMs: 50 });
    const t0 = Date.now();
    const job = await created(await importUsers(emu, people(100)));
    const midway: number[] = [];
    let observed = 0;
    const watcher = setInterval(() => {
      const n = emu.state().users.length;
      if (n > 0 && n < 100) midway.push(n);
      observed++;
    }, 5);
    const { seen, jobs, job: done } = await poll(emu, job.id);
    clearInterval(watcher);
    expect(seen).toEqual(["pending", "processing", "completed"]);
    // 100 users at 200 a second take about half a second, after 50 ms pending.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(observed).toBeGreaterThan(0);
    expect(midway.length).toBeGreaterThan(0);
    const processing = jobs.find((j) => j.status === "processing" && (j.percentage_done as number) > 0);
    expect(processing).toMatchObject({ percentage_done: expect.any(Number) as unknown, time_left_seconds: expect.any(Number) as unknown });
    expect(processing?.summary).toBeUndefined();
    expect(done).toMatchObject({ type: "users_import", id: job.id, connection_id: emu.connectionId(DEFAULT_CONNECTION), summary: { failed: 0, updated: 0, inserted: 100, total: 100 } });
    expect(emu.state().users).toHaveLength(100);
  });

  it("prefixes a given user_id with auth0|, and stores users like created ones but with no password and no verification email", async () => {
    const dir = tempDir();
    const file = join(dir, "tenant.json");
    const emu = new Auth0Emulator(FAST);
    emu.persistTo(file);
    await emu.start();
    try {
      const users = [{ email: "Ada@Example.com", user_id: "ada-1", given_name: "Ada", app_metadata: { plan: "pro" }, blocked: true }, { email: "bob@example.com", email_verified: true }];
      const job = await created(await importUsers(emu, users));
      expect((await poll(emu, job.id)).job.summary).toMatchObject({ inserted: 2, failed: 0 });
      const res = await apiCall(emu, "GET", `/users/${encodeURIComponent("auth0|ada-1")}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        user_id: "auth0|ada-1",
        email: "ada@example.com",
        email_verified: false,
        given_name: "Ada",
        blocked: true,
        app_metadata: { plan: "pro" },
        user_metadata: {},
        identities: [{ connection: DEFAULT_CONNECTION, provider: "auth0", user_id: "ada-1", isSocial: false }],
        created_at: expect.any(String) as unknown,
      });
      const bob = ((await (await apiCall(emu, "GET", "/users-by-email?email=bob@example.com")).json()) as { user_id: string; email_verified: boolean }[])[0];
      expect(bob?.user_id).toMatch(/^auth0\|[0-9a-f]{24}$/);
      expect(bob?.email_verified).toBe(true);
      const state = emu.state();
      expect(state.users.map((u) => u.hasPassword)).toEqual([false, false]);
      expect(state.verificationEmails).toEqual([]);
    } finally {
      await emu.stop();
    }
    // Journaled like any write: a new process bound to the same file has them.
    const again = new Auth0Emulator(FAST);
    again.persistTo(file);
    expect(again.state().users.map((u) => u.user_id)).toContain("auth0|ada-1");
  });

  it("reports each failed user with Auth0's codes and the field's path, hashes redacted, and the job still completes; 204 when none failed", async () => {
    const emu = await startEmulator(FAST);
    expect((await apiCall(emu, "POST", "/users", { connection: DEFAULT_CONNECTION, email: "taken@example.com", password: PASSWORD })).status).toBe(201);
    expect((await apiCall(emu, "POST", "/users", { connection: DEFAULT_CONNECTION, email: "idd@example.com", user_id: "taken-id", password: PASSWORD })).status).toBe(201);
    const bcrypt = "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K";
    const users = [
      { email: "ok@example.com", user_id: "ok-1" },
      { email: "not-an-email", given_name: "X" },
      { email: "typed@example.com", given_name: 7 },
      { email: "extra@example.com", roles: ["admin"] },
      { given_name: "No Email" },
      { email: "OK@example.com", password_hash: bcrypt },
      { email: "other@example.com", user_id: "ok-1", custom_password_hash: { algorithm: "bcrypt", hash: { value: bcrypt } } },
      { email: "taken@example.com" },
      { email: "new@example.com", user_id: "taken-id" },
    ];
    const job = await created(await importUsers(emu, users));
    expect((await poll(emu, job.id)).job).toMatchObject({ status: "completed", summary: { failed: 8, updated: 0, inserted: 1, total: 9 } });
    const res = await apiCall(emu, "GET", `/jobs/${job.id}/errors`);
    expect(res.status).toBe(200);
    const errors = (await res.json()) as { user: Record<string, unknown>; errors: { code: string; message: string; path?: string }[] }[];
    expect(errors.map((e) => e.errors.map((x) => [x.code, x.path]))).toEqual([
      [["FORMAT", "email"]],
      [["INVALID_TYPE", "given_name"]],
      [["FORMAT", "roles"]],
      [["OBJECT_REQUIRED", "email"]],
      [["DUPLICATED_USER", undefined]],
      [["DUPLICATED_USER", undefined]],
      [["CONFLICT_EMAIL", undefined]],
      [["DUPLICATED_USER", undefined]],
    ]);
    expect(errors[0]?.errors[0]?.message).toBe("Object didn't pass validation for format email: not-an-email");
    expect(errors[1]?.errors[0]?.message).toBe("Expected type string but found type integer");
    expect(errors[2]?.errors[0]?.message).toBe("Additional properties not allowed: roles");
    expect(errors[4]?.user).toEqual({ email: "OK@example.com", password_hash: "*****" });
    expect(errors[5]?.user).toEqual({ email: "other@example.com", user_id: "ok-1", custom_password_hash: { algorithm: "bcrypt", hash: { value: "*****" } } });
    expect(errors[6]?.user).toEqual({ email: "taken@example.com" });
    expect(emu.importStats()).toMatchObject({ usersInserted: 1, usersFailed: 8 });

    const clean = await created(await importUsers(emu, [{ email: "clean@example.com" }]));
    await poll(emu, clean.id);
    const none = await apiCall(emu, "GET", `/jobs/${clean.id}/errors`);
    expect(none.status).toBe(204);
    expect(await none.text()).toBe("");
  });

  it("upserts by email: metadata replaced whole, email_verified reset unless sent, blocked and user_id left alone", async () => {
    const emu = await startEmulator(FAST);
    const ada = { connection: DEFAULT_CONNECTION, email: "ada@example.com", password: PASSWORD, email_verified: true, given_name: "Ada", user_metadata: { a: 1, b: 2 }, app_metadata: { plan: "pro", tier: 1 } };
    const { user_id: id } = (await (await apiCall(emu, "POST", "/users", ada)).json()) as { user_id: string };
    const file = [{ email: "ada@example.com", user_id: "other", given_name: "Ada L", user_metadata: { b: 3 }, app_metadata: { plan: "free" }, blocked: true }];

    const refused = await created(await importUsers(emu, file));
    expect((await poll(emu, refused.id)).job.summary).toEqual({ failed: 1, updated: 0, inserted: 0, total: 1 });
    const [conflict] = (await (await apiCall(emu, "GET", `/jobs/${refused.id}/errors`)).json()) as { errors: { code: string }[] }[];
    expect(conflict?.errors[0]?.code).toBe("CONFLICT_EMAIL");

    const job = await created(await importUsers(emu, file, { upsert: "true" }));
    expect(job.upsert).toBe(true);
    expect((await poll(emu, job.id)).job.summary).toEqual({ failed: 0, updated: 1, inserted: 0, total: 1 });
    const user = (await (await apiCall(emu, "GET", `/users/${encodeURIComponent(id)}`)).json()) as Record<string, unknown>;
    expect(user).toMatchObject({ user_id: id, email_verified: false, given_name: "Ada L", user_metadata: { b: 3 }, app_metadata: { plan: "free" } });
    expect(user.blocked).toBeUndefined();
    expect(emu.state().users).toHaveLength(1);
    expect(emu.state().users[0]?.hasPassword).toBe(true);
    expect(emu.importStats()).toMatchObject({ usersUpdated: 1, usersFailed: 1 });
  });

  it("fails a job on demand after half its users (those stay) and on its timeout; /errors then describes the job", async () => {
    const emu = await startEmulator(FAST);
    emu.failNextImportJobs(1);
    const job = await created(await importUsers(emu, people(10)));
    const { job: failed } = await poll(emu, job.id);
    expect(failed).toMatchObject({ status: "failed", summary: { failed: 5, updated: 0, inserted: 5, total: 10 }, status_details: expect.any(String) as unknown });
    expect(emu.state().users).toHaveLength(5);
    const errors = await apiCall(emu, "GET", `/jobs/${job.id}/errors`);
    expect(await errors.json()).toMatchObject({ id: job.id, status: "failed", status_details: failed.status_details });
    expect(emu.importStats()).toMatchObject({ completionEmails: 1, usersInserted: 5 });

    expect((await poll(emu, (await created(await importUsers(emu, people(3, "next")))).id)).job.status).toBe("completed");

    emu.setImportJobSettings({ usersPerSecond: 100, timeoutMs: 300 });
    const slow = await created(await importUsers(emu, people(100, "slow")));
    const { job: timedOut } = await poll(emu, slow.id);
    expect(timedOut).toMatchObject({ status: "failed", status_details: expect.stringContaining("timed out") as unknown });
    const summary = timedOut.summary as { inserted: number; failed: number; total: number };
    expect(summary.inserted).toBeGreaterThan(0);
    expect(summary.inserted + summary.failed).toBe(100);
  });

  it("charges creating and polling a job to the 'other' bucket, as the product classifies them; the users inside spend nothing", async () => {
    // Professional's buckets, with room in "other" for polling every 10 ms.
    const emu = await startEmulator({ ...FAST, importUsersPerSecond: 500, limits: { plan: "professional", endpointGroups: { other: { requestsPerSecond: 100, burst: 100 } } } });
    for (const [method, path] of [["POST", "/api/v2/jobs/users-imports"], ["GET", "/api/v2/jobs/job_AAAAAAAAAAAAAAAA"], ["GET", "/api/v2/jobs/job_AAAAAAAAAAAAAAAA/errors"]] as const) {
      expect(groupOfRoute(method, routeOf(path))).toBe("other");
      expect(endpointGroupOf(method, path)).toBe("other");
    }
    emu.clearLog();
    const job = await created(await importUsers(emu, people(100), { send_completion_email: "false" }));
    await new Promise((r) => setTimeout(r, 150));
    const { job: done } = await poll(emu, job.id);
    expect(done.summary).toMatchObject({ inserted: 100 });
    await apiCall(emu, "GET", `/jobs/${job.id}/errors`);
    const log = emu.requestLog.filter((e) => e.route !== "/oauth/token");
    expect(log.map((e) => [e.bucket, e.status < 300])).toEqual(log.map(() => ["other", true]));
    expect(new Set(log.map((e) => `${e.method} ${e.route}`))).toEqual(new Set(["POST /api/v2/jobs/users-imports", "GET /api/v2/jobs/:id", "GET /api/v2/jobs/:id/errors"]));
    // 100 users went in without a token from the users buckets.
    expect(emu.bucketLevels()).toMatchObject({ writeUsers: { limit: 20, remaining: 20 }, readUsers: { limit: 40, remaining: 40 } });
  });

  it("works through the auth0 SDK's JobsClient (multipart create, get, errors, and the 429)", async () => {
    const emu = await startEmulator({ connections: CONNECTIONS, importUsersPerSecond: 1 });
    const options = { baseUrl: `${emu.baseUrl}/api/v2`, token: () => token(emu), maxRetries: 0 };
    const jobs = new JobsClient(options);
    const connection_id = emu.connectionId(DEFAULT_CONNECTION);
    const file = Buffer.from(JSON.stringify([{ email: "sdk@example.com", user_id: "sdk-1" }, { email: "bad" }]));
    const job = await jobs.usersImports.create({ users: file, connection_id, send_completion_email: false, external_id: "sdk" });
    expect(job).toMatchObject({ status: "pending", type: "users_import", connection_id, external_id: "sdk", upsert: false, send_completion_email: false });
    // The other two jobs carry other users: two jobs of the same users would race for them (which one inserts
    // sdk@example.com and which meets DUPLICATED_USER depends on which the emulator processes first).
    const other = Buffer.from(JSON.stringify([{ email: "sdk2@example.com", user_id: "sdk-2" }]));
    await jobs.usersImports.create({ users: other, connection_id, send_completion_email: false });
    const refused = await rejection(jobs.usersImports.create({ users: other, connection_id }), Management.TooManyRequestsError);
    expect(refused.statusCode).toBe(429);
    expect((refused.body as { message: string }).message).toBe(ACTIVE_429);
    emu.setImportJobSettings({ usersPerSecond: 1_000_000 });
    let got = await jobs.get(job.id);
    while (got.status !== "completed") {
      await new Promise((r) => setTimeout(r, 20));
      got = await jobs.get(job.id);
    }
    expect(got.summary).toEqual({ failed: 1, updated: 0, inserted: 1, total: 2 });
    const errors = await jobs.errors.get(job.id);
    expect(errors).toEqual([{ user: { email: "bad" }, errors: [{ code: "FORMAT", message: "Object didn't pass validation for format email: bad", path: "email" }] }]);
    expect(emu.importStats().completionEmails).toBe(0);
  });
});
