import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig, validateConfig } from "../../functions/core/config.js";
import { configProblems } from "../helpers/config.js";

const base = {
  name: "acme-users",
  source: { workgroupName: "wg", database: "dev", sql: "SELECT 1" },
  auth0: { domain: "acme.eu.auth0.com", connection: "Username-Password-Authentication" },
};

const problems = configProblems;

describe("sync config", () => {
  it("accepts the example config the local demo uses, with defaults filled in", () => {
    const cfg = parseConfig(readFileSync(new URL("../../config/example.yml", import.meta.url), "utf8"), "example.yml");
    expect(cfg.name).toBe("acme-users");
    expect(cfg.identity.keyColumn).toBe("customer_id");
    expect(cfg.mode).toBe("upsert");
    expect(cfg.auth0.rateLimit).toEqual({ requestsPerSecond: 16, burst: 50 });
    expect(cfg.mirror.enabled).toBe(false);
  });

  it("applies defaults to a minimal config", () => {
    const cfg = validateConfig(base);
    expect(cfg.identity).toEqual({ emailColumn: "email", appMetadataKey: "sync_key" });
    expect(cfg.unmappedColumns).toBe("user_metadata");
    expect(cfg.defaults.onNull).toBe("keep");
    expect(cfg.queue.maxReceiveCount).toBe(5);
    expect(cfg.schedule).toBe("rate(1 hour)");
  });

  it("reads JSON as well as YAML", () => {
    expect(parseConfig(JSON.stringify(base)).name).toBe("acme-users");
  });

  it("names the field path and what was expected", () => {
    expect(problems({ ...base, mapping: { given_name: 42 } })).toContain("mapping.given_name: expected a column name, got 42");
    expect(problems({ ...base, mode: "merge" })).toContain("mode: expected 'insert', 'update' or 'upsert', got \"merge\"");
    expect(problems({ ...base, auth0: { ...base.auth0, domain: "https://acme.auth0.com/" } })).toContain(
      "auth0.domain: expected a bare host name such as acme.eu.auth0.com (no https://, no path)",
    );
    expect(problems({ ...base, auth0: { ...base.auth0, rateLimit: { requestsPerSecond: "fast" } } })).toContain(
      'auth0.rateLimit.requestsPerSecond: expected a number of requests per second, got "fast"',
    );
  });

  it("lists every problem at once", () => {
    const p = problems({ name: "Bad Name", source: { database: "dev", sql: "" }, auth0: { connection: "c" } });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^name: expected lower-case letters/),
        "source.sql: expected an SQL statement",
        expect.stringMatching(/^auth0\.domain: expected a domain name, got nothing/),
      ]),
    );
    expect(p.length).toBeGreaterThanOrEqual(3);
  });

  it("requires exactly one of workgroupName and clusterIdentifier", () => {
    expect(problems({ ...base, source: { database: "dev", sql: "SELECT 1" } })).toContain(
      "source: expected exactly one of workgroupName (Redshift Serverless) or clusterIdentifier (provisioned)",
    );
    expect(
      problems({ ...base, source: { workgroupName: "a", clusterIdentifier: "b", database: "dev", sql: "SELECT 1", secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x" } }),
    ).toEqual(["source: expected exactly one of workgroupName (Redshift Serverless) or clusterIdentifier (provisioned)"]);
    expect(problems({ ...base, source: { clusterIdentifier: "b", database: "dev", sql: "SELECT 1" } })).toEqual([
      "source.secretArn: a provisioned cluster needs secretArn (the database credentials in Secrets Manager)",
    ]);
  });

  it("rejects unknown fields and unknown mapping targets", () => {
    expect(problems({ ...base, extra: 1 })).toContain("(top level): unknown field 'extra'");
    expect(problems({ ...base, mapping: { first_name: "fn" } })[0]).toMatch(/^mapping\.first_name: expected a target: one of email, email_verified/);
  });

  it("refuses reserved app_metadata keys and metadata keys with '$'", () => {
    expect(problems({ ...base, mapping: { "app_metadata.blocked": "b" } })).toContain("mapping.app_metadata.blocked: 'blocked' is a reserved app_metadata key in Auth0");
    expect(problems({ ...base, mapping: { "user_metadata.$x": "b" } })).toContain("mapping.user_metadata.$x: metadata keys may not be empty or contain '.' or '$'");
    expect(problems({ ...base, identity: { appMetadataKey: "user_id" } })).toContain("identity.appMetadataKey: is a reserved app_metadata key in Auth0");
  });

  it("never takes a secret as a value", () => {
    const p = problems({ ...base, auth0: { ...base.auth0, clientSecret: "s3cr3t" } });
    expect(p).toEqual([
      "auth0.clientSecret: secrets are never values in the config file; use auth0.credentialsSecretArn / source.secretArn, or environment variables locally",
    ]);
    expect(p.join("\n")).not.toContain("s3cr3t");
    expect(problems({ ...base, source: { ...base.source, password: "pw" } })[0]).toMatch(/^source\.password: secrets are never values/);
  });

  it("checks ARNs, schedule expressions and the invite ticket", () => {
    expect(problems({ ...base, auth0: { ...base.auth0, credentialsSecretArn: "my-secret" } })).toContain(
      "auth0.credentialsSecretArn: expected an ARN of secretsmanager",
    );
    expect(problems({ ...base, schedule: "every hour" })).toContain("schedule: expected rate(N minutes|hours|days) or cron(...)");
    expect(problems({ ...base, create: { inviteTicket: { enabled: true } } })).toContain("create.inviteTicket.resultUrl: expected a URL to send invited users to");
    expect(problems({ ...base, queue: { maxReceiveCount: 2 } })).toContain("queue.maxReceiveCount: expected at least 5 (AWS guidance for Lambda consumers)");
  });

  it("reports broken YAML clearly", () => {
    expect(() => parseConfig("name: [unclosed", "x.yml")).toThrow(/Invalid sync config x.yml:\n {2}- not valid YAML or JSON/);
    expect(() => parseConfig("- a\n- b", "x.yml")).toThrow(/expected an object/);
  });
});

describe("the source, a union tagged by type", () => {
  it("an untagged source is a Redshift one (files from before the tag keep working); an unknown type is named", () => {
    const base = { name: "t", identity: { keyColumn: "id" }, auth0: { domain: "t.local", connection: "c" } };
    const source = { workgroupName: "wg", database: "dev", sql: "SELECT 1" };
    expect(validateConfig({ ...base, source }).source).toMatchObject({ type: "redshift", workgroupName: "wg" });
    expect(validateConfig({ ...base, source: { type: "redshift", ...source } }).source.type).toBe("redshift");
    expect(() => validateConfig({ ...base, source: { type: "snowflake", account: "x" } })).toThrow("source.type: expected source.type 'redshift' (the Redshift Data API)");
  });
});
