import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/core/config.js";
import { DEMO_ORGS } from "../../local/demo-data.js";
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from "../../local/auth0-emulator.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { startEmulator } from "../helpers/emulator.js";
import { tempDir } from "../helpers/tmp.js";

const config = parseConfig(readFileSync(new URL("../../config/example.yml", import.meta.url), "utf8"));

describe("local pipeline options", () => {
  it("--csv loads rows into the table the config's SQL reads", async () => {
    const dir = tempDir();
    const csv = join(dir, "users.csv");
    writeFileSync(
      csv,
      [
        "customer_id,email,first_name,last_name,phone,avatar_url,plan,tier,preferences,roles,orgs,org_roles,is_blocked,status",
        'c-1,ada@example.com,Ada,Lovelace,+441234567890,,pro,gold,"{""theme"":""dark""}",admin,,,false,active',
        "c-2,grace@example.com,Grace,Hopper,,,team,silver,,viewer,,,true,active",
        "c-3,bad-email,Bad,Row,,,free,bronze,,,,,false,active",
        "c-4,test@example.com,Test,Row,,,free,bronze,,,,,false,test",
      ].join("\n"),
    );
    const run = await runLocalPipeline({ config, stateDir: join(dir, "state"), fresh: true, csv, rate: 200 });
    expect(run).toMatchObject({ rowsRead: 3, created: 2, rejected: 1, unaccounted: 0 });
    expect(run.rejections).toEqual(["row 3, key c-3: email: is not a valid email address"]);
    const tenant = JSON.parse(readFileSync(join(dir, "state", "tenant.json"), "utf8")) as { users: { email: string; blocked?: boolean; user_metadata: object; roles: string[] }[] };
    const grace = tenant.users.find((u) => u.email === "grace@example.com");
    expect(grace).toMatchObject({ blocked: true, roles: ["viewer"], user_metadata: { plan: "team" } });
  }, 60_000);

  it("syncs into any Auth0-compatible tenant given a domain, credentials and a base URL", async () => {
    const other = await startEmulator({ roles: ["admin", "editor", "viewer", "billing"], organizations: DEMO_ORGS, domain: "acme.example.auth0.com" });
    const run = await runLocalPipeline({
      config,
      stateDir: tempDir(),
      fresh: true,
      seedRows: 60,
      realTenant: { domain: other.domain, baseUrl: other.baseUrl, credentials: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } },
    });
    expect(run.unaccounted).toBe(0);
    expect(run.created).toBeGreaterThan(50);
    expect(other.state().users).toHaveLength(run.created);
  }, 60_000);

  it("a message that keeps failing ends in the DLQ after maxReceiveCount and its users are counted dead-lettered", async () => {
    const run = await runLocalPipeline({ config, stateDir: tempDir(), fresh: true, seedRows: 40, rate: 200, failRate: 1 });
    expect(run.unaccounted).toBe(0);
    expect(run.created + run.updated + run.unchanged).toBe(0);
    expect(run.deadLettered).toBe(run.rowsRead - run.rejected);
    expect(run.deadLettered).toBeGreaterThan(30);
  }, 60_000);
});
