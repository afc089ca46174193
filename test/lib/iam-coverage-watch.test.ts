/**
 * IAM of the watch (docs/watch.md). As in iam-coverage.test.ts, the watch runs through the local pipeline with a
 * recorder on every AWS client: a Dashboard edit judged and repaired (the users index queried, the entry read, the
 * user's memory read and written, the record updated, the repair sent to the main queue), an unmanaged user, and
 * the watch's credentials read from Secrets Manager. Each call must be allowed by the synthesized watch role
 * (action and resource), and the role must hold nothing that no call and no AWS service needs.
 */
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { SyncConfig } from "../../functions/core/config.js";
import { defaultDeps as watchDefaultDeps } from "../../functions/watch/handler.js";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import type { AwsCall } from "../../local/aws-calls.js";
import { runLocalPipeline, runLocalWatch, type LocalEnvironment } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { actionOf, allows, grantedActions, logicalIdIn, roleStatements, SQS_FUNCTION_ON_BEHALF } from "../helpers/iam.js";
import { secretReadsOf } from "../helpers/secret-reads.js";
import { tempDir } from "../helpers/tmp.js";

const PSEUDO = { region: "eu-west-1", account: "123456789012" };
const SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-created-by-the-stack";
const ON_BEHALF = SQS_FUNCTION_ON_BEHALF;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("IAM coverage of the watch", () => {
  const calls: AwsCall[] = [];
  let config: SyncConfig;
  let template: Template;
  let table = "";

  beforeAll(async () => {
    const base = exampleConfigWith();
    config = exampleConfigWith({ auth0: { clientId: "sync-client-id" }, watch: { eventSource: "aws.partner/auth0.com/acme-0f3c/auth0.logs" } });
    const dir = tempDir();
    const state = join(dir, "state");
    expect(await runLocalPipeline({ config: base, stateDir: state, csv: writeCsv(join(dir, "a.csv"), demoRows(5)), rate: 500 })).toMatchObject({ created: 5, unaccounted: 0 });
    const stop = new AbortController();
    let env!: LocalEnvironment;
    let judged = 0;
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    const watching = runLocalWatch({
      config: base,
      stateDir: state,
      rate: 500,
      signal: stop.signal,
      batchWindowMs: 200,
      awsCalls: calls,
      onBus: () => ready(),
      onEnvironment: (e) => void (env = e),
      onBatch: (b) => (judged += b.notes.length),
    });
    await started;
    const d = env.emulator!;
    const user = d.state().users.find((u) => u.app_metadata.sync_key === "c-0001")!;
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(user.user_id)}`, { given_name: "Edited" });
    const other = (await (await d.dashboardEdit("POST", "/users", { email: "stranger@example.com", connection: base.auth0.connection, password: "Str0ng!pass-word" })).json()) as { user_id: string };
    await d.dashboardEdit("PATCH", `/users/${encodeURIComponent(other.user_id)}`, { given_name: "Stranger" });
    const end = Date.now() + 30_000;
    while ((judged < 2 || d.state().users.find((u) => u.user_id === user.user_id)?.given_name !== "First1") && Date.now() < end) await sleep(50);
    table = env.ledgerFor!().tableName;
    stop.abort();
    await watching;

    calls.push(...(await secretReadsOf("watch", watchDefaultDeps, { SYNC_CONFIG: JSON.stringify(config), AUTH0_CREDENTIALS_SECRET_ARN: SECRET_ARN, LEDGER_TABLE: table, QUEUE_URL: "http://127.0.0.1:9/000000000000/unused", AWS_REGION: "eu-west-1" })));
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    template = Template.fromStack(new Auth0SyncStack(app, "iam", { config, env: PSEUDO }));
  }, 240_000);

  const logicalId = (type: string, pick: (p: Record<string, unknown>) => boolean) => logicalIdIn(template, type, pick);

  function resourceOf(c: AwsCall): string {
    const r = c.resources;
    if (r.table) return logicalId("AWS::DynamoDB::GlobalTable", () => true) + (r.index ? `/index/${r.index}` : "");
    if (r.queueUrl) return logicalId("AWS::SQS::Queue", (p) => p.QueueName === `auth0-sync-${config.name}`);
    if (r.secretId) return logicalId("AWS::SecretsManager::Secret", () => true);
    return "*";
  }

  it("the watch took every path that calls AWS", () => {
    const seen = [...new Set(calls.filter((c) => c.fn === "watch").map(actionOf))].sort();
    expect(seen).toEqual(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue", "sqs:SendMessage"]);
    expect(calls.filter((c) => c.fn === "watch" && c.operation === "Query").every((c) => c.resources.index === "users")).toBe(true);
  });

  it("each recorded call is allowed by the watch's role (action and resource)", () => {
    const statements = roleStatements(template, `auth0-sync ${config.name} watch`);
    const denied = new Set<string>();
    for (const c of calls.filter((x) => x.fn === "watch")) if (!allows(statements, actionOf(c), resourceOf(c), PSEUDO)) denied.add(`${actionOf(c)} on ${resourceOf(c)}`);
    expect([...denied]).toEqual([]);
  });

  it("its role holds no action that no call and no AWS service needs", () => {
    const used = new Set(calls.filter((c) => c.fn === "watch").map(actionOf));
    const unused = grantedActions(roleStatements(template, `auth0-sync ${config.name} watch`)).filter((a) => !used.has(a) && !(a in ON_BEHALF));
    expect(unused).toEqual([]);
  });
});
