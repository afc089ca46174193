/**
 * Bad config files, as an operator meets them: through the CLI, every problem listed with its path and what was
 * expected, exit code 2, no stack trace, and a secret value never echoed.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../cli/program.js";
import { tempDir } from "../helpers/tmp.js";

const BASE = `name: bad-demo
source:
  workgroupName: analytics
  database: dev
  sql: SELECT * FROM app_users
identity:
  keyColumn: customer_id
  emailColumn: email
auth0:
  domain: acme.eu.auth0.com
  connection: Username-Password-Authentication
`;
const withAuth0 = (line: string) => BASE.replace("  connection: Username-Password-Authentication\n", `  connection: Username-Password-Authentication\n  ${line}\n`);

const CASES: [string, string, string, string[]][] = [
  ["broken YAML", "broken.yml", "name: [unclosed\n", ["not valid YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1"]],
  ["broken JSON", "broken.json", '{"name": "x", "source": {', ["not valid YAML or JSON: Flow map in block collection must be sufficiently indented and end with a } at line 1, column 26"]],
  ["an empty file", "empty.yml", "", ["(top level): expected an object with name, source, auth0, ..."]],
  ["an unknown field", "unknown.yml", `${BASE}colour: blue\n`, ["(top level): unknown field 'colour'"]],
  ["no source", "nosource.yml", BASE.replace(/source:\n( {2}.*\n){3}/, ""), ["source: expected the warehouse source { workgroupName or clusterIdentifier, database, sql }, got nothing"]],
  [
    "both a workgroup and a cluster",
    "both.yml",
    BASE.replace("  workgroupName: analytics\n", "  workgroupName: analytics\n  clusterIdentifier: c1\n"),
    [
      "source: expected exactly one of workgroupName (Redshift Serverless) or clusterIdentifier (provisioned)",
      "source.secretArn: a provisioned cluster needs secretArn (the database credentials in Secrets Manager)",
    ],
  ],
  [
    "an unknown mapping target",
    "target.yml",
    `${BASE}mapping:\n  first_name: given_name\n`,
    [
      "mapping.first_name: expected a target: one of email, email_verified, given_name, family_name, name, nickname, picture, phone_number, blocked, username, user_metadata.<key>, app_metadata.<key>, or user_metadata / app_metadata for a JSON object column",
    ],
  ],
  [
    "a reserved app_metadata key and a '$' key",
    "reserved.yml",
    `${BASE}mapping:\n  app_metadata.blocked: is_blocked\n  user_metadata.$plan: plan\n`,
    ["mapping.app_metadata.blocked: 'blocked' is a reserved app_metadata key in Auth0", "mapping.user_metadata.$plan: metadata keys may not be empty or contain '.' or '$'"],
  ],
  [
    "a secret as a value",
    "secret.yml",
    withAuth0("clientSecret: s3cr3t-value-123"),
    ["auth0.clientSecret: secrets are never values in the config file; use auth0.credentialsSecretArn / source.secretArn, or environment variables locally"],
  ],
  [
    "wrong types and ranges",
    "rate.yml",
    withAuth0("rateLimit: { requestsPerSecond: -5, burst: lots }"),
    ["auth0.rateLimit.requestsPerSecond: expected a number of requests per second, got -5", 'auth0.rateLimit.burst: expected a whole number, got "lots"'],
  ],
];

describe("bad config files through the CLI", () => {
  const dir = tempDir();
  for (const [what, name, text, problems] of CASES) {
    it(`${what}: every problem by path`, async () => {
      const file = join(dir, name);
      writeFileSync(file, text);
      let out = "";
      let err = "";
      const code = await runCli(["plan", "--local", "--state", join(dir, "state"), "--config", file], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
      expect(code).toBe(2);
      expect(out).toBe("");
      expect(err).toBe(`Invalid sync config ${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
      expect(err).not.toContain("s3cr3t-value-123");
      expect(readFileSync(file, "utf8")).toBe(text);
    });
  }
});
