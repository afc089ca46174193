/**
 * A config that names a column the statement does not return fails the run before any row is processed: nothing
 * is sent, the run is recorded failed with the one sentence, and the tenant is untouched. Through the local pipeline.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalEnvironment, runLocalPipeline } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

describe("the config against the data", () => {
  it("a mapping to a column the statement does not return, a missing email column, or a column returned twice fails the run and changes nothing", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = writeCsv(join(dir, "users.csv"), demoRows(20));
    const good = exampleConfigWith();
    expect(await runLocalPipeline({ config: good, stateDir, csv, rate: 500 })).toMatchObject({ created: 20, unaccounted: 0 });
    const tenant = () => readFileSync(join(stateDir, "tenant.json"), "utf8");
    const before = tenant();

    const typo = exampleConfigWith({ mapping: { picture: "avatar_link" } });
    await expect(runLocalPipeline({ config: typo, stateDir, csv, rate: 500 })).rejects.toThrow(
      "The statement does not return every column the config names: mapping.picture names the column 'avatar_link'; it returns customer_id, email, first_name, last_name, phone, avatar_url, plan, tier, preferences, roles, orgs, org_roles, is_blocked.",
    );
    const noEmail = exampleConfigWith({ identity: { emailColumn: "mail" } });
    await expect(runLocalPipeline({ config: noEmail, stateDir, csv, rate: 500 })).rejects.toThrow(/^The statement does not return every column the config names: identity\.emailColumn names the column 'mail'; it returns /);
    // A column returned twice: a row keeps one value per name, so one would be dropped unseen.
    const twice = exampleConfigWith({ source: { sql: "SELECT customer_id, email, first_name, last_name, phone, avatar_url, plan, tier, preferences, roles, orgs, org_roles, is_blocked, first_name FROM app_users" } });
    await expect(runLocalPipeline({ config: twice, stateDir, csv, rate: 500 })).rejects.toThrow(
      "The statement returns the column 'first_name' twice (columns 3 and 14): a row keeps one value per name, so give one another name (AS ...).",
    );
    expect(tenant()).toBe(before);

    const env = await LocalEnvironment.start({ config: good, stateDir });
    try {
      const [last, previous, earlier] = await env.ledgerFor!().runs.latest(3);
      expect(last).toMatchObject({ status: "failed", error: expect.stringContaining("the column 'first_name' twice") });
      expect(previous).toMatchObject({ status: "failed", error: expect.stringContaining("identity.emailColumn names the column 'mail'") });
      expect(earlier).toMatchObject({ status: "failed", error: expect.stringContaining("mapping.picture names the column 'avatar_link'") });
      expect(last?.counts ?? {}).toEqual({});
    } finally {
      await env.stop();
    }
  }, 90_000);
});
