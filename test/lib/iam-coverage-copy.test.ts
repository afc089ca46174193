/**
 * IAM of a tenant copy (source.type auth0): the extractor reads the source tenant's credentials and the
 * pseudonymisation key from Secrets Manager and nothing of the warehouse; the consumer, which only sees
 * pseudonymised rows, can read neither secret. As in iam-coverage.test.ts, the handlers run through the local
 * pipeline with a recorder on their AWS clients, and the Secrets Manager reads of the production wiring are
 * recorded through a mock; every call must be allowed by the synthesized role, and the role must hold nothing else.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { clearCaches } from "@aws-lambda-powertools/parameters";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { mockClient } from "aws-sdk-client-mock";
import { beforeAll, describe, expect, it } from "vitest";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import { defaultDeps as extractorDefaultDeps } from "../../functions/extractor/handler.js";
import { parseConfig, type SyncConfig } from "../../functions/core/config.js";
import type { AwsCall } from "../../local/aws-calls.js";
import { runLocalPipeline, type LocalEnvironment } from "../../local/pipeline.js";
import { allows, grantedActions, roleStatements } from "../helpers/iam.js";
import { tempDir } from "../helpers/tmp.js";

const PSEUDO = { region: "eu-west-1", account: "123456789012" };
const SOURCE_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:source-credentials-created-by-the-stack";
const KEY_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pseudonym-key-created-by-the-stack";
const ON_BEHALF = new Set(["logs:CreateLogStream", "logs:PutLogEvents"]);

const actionOf = (c: AwsCall) => `${c.service}:${c.service === "sqs" && c.operation === "SendMessageBatch" ? "SendMessage" : c.operation}`;

describe("IAM coverage of a tenant copy: the extractor reads the source's secrets and no warehouse; the consumer reads neither", () => {
  const calls: AwsCall[] = [];
  const local = { table: "" };
  let config: SyncConfig;
  let template: Template;

  beforeAll(async () => {
    config = parseConfig(readFileSync(new URL("../../config/tenant-copy.yml", import.meta.url), "utf8"));
    const stateDir = join(tempDir(), "state");
    const remember = (env: LocalEnvironment) => void (local.table = env.ledgerFor!().tableName);
    await runLocalPipeline({ config, stateDir, fresh: true, seedRows: 30, rate: 500, awsCalls: calls, onEnvironment: remember });

    // In AWS the extractor reads the source tenant's credentials and the key from Secrets Manager.
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand, { SecretId: SOURCE_SECRET }).resolves({ SecretString: JSON.stringify({ client_id: "id", client_secret: "secret" }) });
    sm.on(GetSecretValueCommand, { SecretId: KEY_SECRET }).resolves({ SecretString: "k".repeat(64) });
    const saved = { ...process.env };
    try {
      for (const k of ["SOURCE_AUTH0_CLIENT_ID", "SOURCE_AUTH0_CLIENT_SECRET", "PSEUDONYM_KEY"]) delete process.env[k];
      clearCaches();
      Object.assign(process.env, {
        SYNC_CONFIG: JSON.stringify(config),
        SOURCE_CREDENTIALS_SECRET_ARN: SOURCE_SECRET,
        PSEUDONYM_KEY_SECRET_ARN: KEY_SECRET,
        LEDGER_TABLE: local.table,
        QUEUE_URL: "http://127.0.0.1:9/000000000000/unused",
        AWS_REGION: "eu-west-1",
      });
      const deps = await extractorDefaultDeps({ logger: new Logger({ logLevel: "SILENT" }), metrics: new Metrics({ namespace: "t" }) });
      expect(deps.source.constructor.name).toBe("Auth0TenantSource");
      for (const c of sm.commandCalls(GetSecretValueCommand)) calls.push({ fn: "extractor", service: "secretsmanager", operation: "GetSecretValue", resources: { secretId: c.args[0].input.SecretId } });
    } finally {
      process.env = saved;
      sm.restore();
      clearCaches();
    }
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    template = Template.fromStack(new Auth0SyncStack(app, "copy", { config, env: PSEUDO }));
  }, 120_000);

  /** The secret a recorded read names, as the template's resource (`logical:<id>`), told apart by its description. */
  function secretOf(arn: string): string {
    const want = arn === SOURCE_SECRET ? /^Source tenant .* M2M credentials/ : /^Pseudonymisation key/;
    const ids = Object.entries(template.findResources("AWS::SecretsManager::Secret")).filter(([, r]) => want.test(String((r as { Properties: { Description?: string } }).Properties.Description)));
    expect(ids).toHaveLength(1);
    return `logical:${ids[0]![0]}`;
  }

  function resourceOf(c: AwsCall): string {
    if (c.resources.secretId) return secretOf(c.resources.secretId);
    if (c.resources.table) return `logical:${Object.keys(template.findResources("AWS::DynamoDB::GlobalTable"))[0]}`;
    const local = c.resources.queueUrl?.split("/").at(-1);
    const name = local === `${config.name}-queue` ? `auth0-sync-${config.name}` : local === `${config.name}-import` || local === `${config.name}-writes` ? `auth0-sync-${local}` : "?";
    const ids = Object.entries(template.findResources("AWS::SQS::Queue")).filter(([, r]) => (r as { Properties: { QueueName?: string } }).Properties.QueueName === name);
    return `logical:${ids[0]?.[0]}`;
  }

  it("the extractor's calls: the ledger, the queue, the two secrets; no Data API", () => {
    const seen = [...new Set(calls.filter((c) => c.fn === "extractor").map(actionOf))].sort();
    expect(seen).toEqual(["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue", "sqs:GetQueueAttributes", "sqs:SendMessage"]);
    expect(new Set(calls.filter((c) => c.service === "secretsmanager").map((c) => c.resources.secretId))).toEqual(new Set([SOURCE_SECRET, KEY_SECRET]));
  });

  it("each extractor call is allowed by its role, and the role holds nothing else (no redshift-data)", () => {
    const statements = roleStatements(template, `auth0-sync ${config.name} extractor`);
    const denied = calls.filter((c) => c.fn === "extractor" && !allows(statements, actionOf(c), resourceOf(c), PSEUDO)).map((c) => `${actionOf(c)} on ${resourceOf(c)}`);
    expect(denied).toEqual([]);
    const used = new Set(calls.filter((c) => c.fn === "extractor").map(actionOf));
    // The ledger's grants are the same as a warehouse sync's, whose paths iam-coverage.test.ts takes: BatchGetItem
    // (the unchanged check by lookup) and GetItem (naming the holder of the run lock) are not on this run's path.
    const ledgerPaths = new Set(["dynamodb:BatchGetItem", "dynamodb:GetItem"]);
    expect(grantedActions(statements).filter((a) => !used.has(a) && !ON_BEHALF.has(a) && !ledgerPaths.has(a))).toEqual([]);
  });

  it("the consumer cannot read the source tenant's credentials nor the key", () => {
    const statements = roleStatements(template, `auth0-sync ${config.name} consumer`);
    expect(allows(statements, "secretsmanager:GetSecretValue", secretOf(SOURCE_SECRET), PSEUDO)).toBe(false);
    expect(allows(statements, "secretsmanager:GetSecretValue", secretOf(KEY_SECRET), PSEUDO)).toBe(false);
  });
});
