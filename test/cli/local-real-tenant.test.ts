/**
 * `auth0-sync --local` pointed at a real tenant (AUTH0_* set) spends the config's rate budget, as `npm start`
 * does, not the emulator's 200/s (issue 24: against a tenant of 10/s, 52% of the calls were 429s); an explicit
 * --local-rate still overrides it.
 */
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from "../../local/auth0-emulator.js";
import { DEMO_ORGS, DEMO_ROLES } from "../../local/demo-data.js";
import { LocalEnvironment } from "../../local/pipeline.js";
import { LocalTarget } from "../../cli/targets/local.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

// The tenant allows 10 requests a second (burst 10), and the config says so.
const budget = { requestsPerSecond: 10, burst: 10 };
const config = exampleConfigWith({ auth0: { rateLimit: budget } });

describe("auth0-sync --local against a real tenant", () => {
  const tenant = new Auth0Emulator({ domain: "real.tenant.example", limits: { rateLimit: budget }, roles: DEMO_ROLES, organizations: DEMO_ORGS });
  let env: Record<string, string>;
  beforeAll(async () => {
    const baseUrl = await tenant.start();
    env = { AUTH0_DOMAIN: "real.tenant.example", AUTH0_BASE_URL: baseUrl, AUTH0_CLIENT_ID: DEFAULT_CLIENT_ID, AUTH0_CLIENT_SECRET: DEFAULT_CLIENT_SECRET };
  });
  afterAll(() => tenant.stop());

  it("keeps to the config's budget: no 429 storm", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    // A state directory with a warehouse of 60 rows and an empty ledger.
    await (await LocalEnvironment.start({ config, stateDir: state, csv: writeCsv(join(dir, "users.csv"), demoRows(60)) })).stop();
    const configFile = join(dir, "sync.json");
    writeFileSync(configFile, JSON.stringify(config));
    const before = tenant.requestLog.length;
    const saved = { ...process.env };
    Object.assign(process.env, env);
    let r;
    try {
      r = await cli("run", "--local", "--state", state, "--config", configFile, "--json");
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    }
    expect(r.code, r.err).toBe(0);
    const calls = tenant.requestLog.slice(before).filter((e) => e.bucket !== "oauth-token");
    expect(calls.length).toBeGreaterThan(60);
    const throttled = calls.filter((e) => e.status === 429).length;
    expect(throttled / calls.length, `${throttled} of ${calls.length} calls were 429s`).toBeLessThan(0.02);
  }, 120_000);

  it("takes the config's budget without --local-rate, and --local-rate when given", () => {
    expect(LocalTarget.fromEnv({ config, stateDir: "s" }, env)["opts"].rate).toBeUndefined();
    expect(LocalTarget.fromEnv({ config, stateDir: "s" }, env, 5)["opts"].rate).toBe(5);
    // Against the emulator, the emulator's fast default.
    expect(LocalTarget.fromEnv({ config, stateDir: "s" }, {})["opts"].rate).toBe(200);
  });
});
