/**
 * IAM of the import path (docs/imports.md): the importer's role, and what the extractor adds (the import queue). As
 * in iam-coverage.test.ts, a first load goes through the local pipeline with a recorder on every AWS client: users
 * imported (their ledger entries, the batch's job record, the run's figures), a user whose role does not exist
 * handed to the per-user path (SendMessage to the main queue), and the importer's credentials read from Secrets
 * Manager. Each call must be allowed by the synthesized role (action and resource), and the importer's role must
 * hold nothing that no call and no AWS service needs.
 */
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { SyncConfig } from "../../functions/core/config.js";
import { defaultDeps as importerDefaultDeps } from "../../functions/importer/handler.js";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import type { AwsCall, Caller } from "../../local/aws-calls.js";
import { runLocalPipeline, type LocalEnvironment } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { actionOf, allows, grantedActions, logicalIdIn, roleStatements, SQS_FUNCTION_ON_BEHALF } from "../helpers/iam.js";
import { secretReadsOf } from "../helpers/secret-reads.js";
import { tempDir } from "../helpers/tmp.js";

const PSEUDO = { region: "eu-west-1", account: "123456789012" };
const SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-created-by-the-stack";
const ON_BEHALF = SQS_FUNCTION_ON_BEHALF;


describe("IAM coverage of the import path: the importer and the extractor's import queue", () => {
  const calls: AwsCall[] = [];
  const local = { table: "" };
  let config: SyncConfig;
  let template: Template;

  beforeAll(async () => {
    config = exampleConfigWith({ create: { bulk: "auto", bulkMinUsers: 20 } });
    const dir = tempDir();
    const remember = (env: LocalEnvironment) => {
      local.table = env.ledgerFor!().tableName;
      env.emulator!.setImportJobSettings({ usersPerSecond: 5000 });
    };
    const rows = demoRows(30, (i) => (i === 4 ? "ghost" : "viewer"));
    const run = await runLocalPipeline({ config, stateDir: join(dir, "state"), csv: writeCsv(join(dir, "a.csv"), rows), rate: 500, retryDelaySeconds: 0, awsCalls: calls, onEnvironment: remember });
    expect(run).toMatchObject({ created: 29, rejected: 1, importedUsers: 29, unaccounted: 0 });

    calls.push(...(await secretReadsOf("importer", importerDefaultDeps, { SYNC_CONFIG: JSON.stringify(config), AUTH0_CREDENTIALS_SECRET_ARN: SECRET_ARN, LEDGER_TABLE: local.table, QUEUE_URL: "http://127.0.0.1:9/000000000000/unused", AWS_REGION: "eu-west-1" })));
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    template = Template.fromStack(new Auth0SyncStack(app, "iam", { config, env: PSEUDO }));
  }, 240_000);

  const logicalId = (type: string, pick: (p: Record<string, unknown>) => boolean) => logicalIdIn(template, type, pick);

  function resourceOf(c: AwsCall): string {
    const r = c.resources;
    if (r.table) return logicalId("AWS::DynamoDB::GlobalTable", () => true);
    if (r.queueUrl) {
      const local = r.queueUrl.split("/").at(-1) ?? "";
      const name = local.endsWith("-import") || local.endsWith("-writes") ? `auth0-sync-${local}` : `auth0-sync-${config.name}`;
      return logicalId("AWS::SQS::Queue", (p) => p.QueueName === name);
    }
    if (r.secretId) return logicalId("AWS::SecretsManager::Secret", () => true);
    if (r.workgroup) return `arn:aws:redshift-serverless:${PSEUDO.region}:${PSEUDO.account}:workgroup/0a1b2c3d-workgroup-id`;
    // DescribeStatement, GetStatementResult: no resource-level permission; IAM wants "*".
    return "*";
  }

  it("the run took every path that calls AWS", () => {
    const seen = (fn: Caller) => [...new Set(calls.filter((c) => c.fn === fn).map(actionOf))].sort();
    expect(seen("importer")).toEqual(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue", "sqs:SendMessage"]);
    expect(calls.some((c) => c.fn === "extractor" && c.operation === "SendMessageBatch" && c.resources.queueUrl?.endsWith("-import"))).toBe(true);
  });

  for (const fn of ["importer", "extractor"] as const) {
    it(`${fn}: each recorded call is allowed by its role (action and resource)`, () => {
      const statements = roleStatements(template, `auth0-sync ${config.name} ${fn}`);
      const denied = new Set<string>();
      for (const c of calls.filter((x) => x.fn === fn)) if (!allows(statements, actionOf(c), resourceOf(c), PSEUDO)) denied.add(`${actionOf(c)} on ${resourceOf(c)}`);
      expect([...denied]).toEqual([]);
    });
  }

  it("importer: its role holds no action that no call and no AWS service needs (DeleteItem: a job Auth0 refused to create, released)", () => {
    const used = new Set([...calls.filter((c) => c.fn === "importer").map(actionOf), "dynamodb:DeleteItem"]);
    const unused = grantedActions(roleStatements(template, `auth0-sync ${config.name} importer`)).filter((a) => !used.has(a) && !(a in ON_BEHALF));
    expect(unused).toEqual([]);
  });
});
