/**
 * Issue 27, the per-user path for smaller creates (core/created-writes.ts): the roles of users created one by one
 * are grouped across consumer invocations through the writes queue, up to 100 users a grouped call, so a first sync
 * at the default config (25 users an invocation) costs at most 1.05 calls per new user. The bucket here is 40/s so
 * the test is quick (5 consumer instances, each looking the role names up once); `npm run bench -- --only
 * created-writes` measures the 10/s, also with another client spending half the bucket (429s under 1%).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RequestLogEntry } from "../../local/auth0-emulator.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

async function firstSync() {
  const dir = tempDir();
  const csv = writeCsv(join(dir, "users.csv"), demoRows(300, () => "viewer"));
  let log: readonly RequestLogEntry[] = [];
  const summary = await runLocalPipeline({
    config: exampleConfigWith({ create: { bulk: "off" } }),
    stateDir: join(dir, "state"),
    fresh: true,
    csv,
    rate: 40,
    onEnvironment: (env) => void (log = env.emulator!.requestLog),
  });
  const api = log.filter((e) => e.route !== "/oauth/token");
  const count = (method: string, route: string, status?: number) => api.filter((e) => e.method === method && e.route === route && (status === undefined || e.status === status)).length;
  return { summary, calls: api.length, s429: api.filter((e) => e.status === 429).length, roleCalls: count("POST", "/api/v2/roles/:id/users", 200), perUserRoleCalls: count("POST", "/api/v2/users/:id/roles") };
}

describe("roles of users created one by one, grouped across invocations", () => {
  it("300 new users with one role: their roles in a few grouped calls of up to 100, at most 1.05 calls per new user", async () => {
    const r = await firstSync();
    expect(r.summary).toMatchObject({ rowsRead: 300, created: 300, unaccounted: 0, deadLettered: 0 });
    expect(r.perUserRoleCalls).toBe(0);
    // Grouped per invocation of at most 25 users, they took 12 calls or more.
    expect(r.roleCalls).toBeLessThanOrEqual(6);
    expect(r.calls / 300).toBeLessThanOrEqual(1.05);
  }, 120_000);
});
