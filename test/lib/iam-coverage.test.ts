/**
 * IAM covers every call, and nothing more. Locally nothing enforces IAM (dynalite and local-aws-sqs accept any
 * call), so a call a role does not allow passes every local test and fails in AWS: the run lock's GetItem did.
 * Here the handlers run through the local pipeline with a recorder on the AWS clients they get, over scenarios
 * that take every path that calls AWS (create, reject, retry, mirror delete, the unchanged check by lookup and by
 * Scan, a run skipped while another holds the lock); each recorded call must be allowed by that function's role
 * in the synthesized stack (action and resource), and each action a role holds must be one a handler was seen to
 * call, or one AWS calls on the function's behalf (listed below with the reason).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { clearCaches } from "@aws-lambda-powertools/parameters";
import { mockClient } from "aws-sdk-client-mock";
import { beforeAll, describe, expect, it } from "vitest";
import { Auth0SyncStack } from "../../lib/auth0-sync-stack.js";
import { defaultDeps as consumerDefaultDeps } from "../../functions/consumer/handler.js";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { SyncConfig } from "../../functions/core/config.js";
import type { AwsCall, LambdaName } from "../../local/aws-calls.js";
import { runLocalPipeline, runLocalReconcile, type LocalEnvironment } from "../../local/pipeline.js";
import type { TenantState } from "../../local/auth0-emulator.js";
import { defaultDeps as reconcileDefaultDeps } from "../../functions/reconcile/handler.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { allows, grantedActions, roleStatements } from "../helpers/iam.js";
import { tempDir } from "../helpers/tmp.js";

const PSEUDO = { region: "eu-west-1", account: "123456789012" };

/** Actions a role holds for calls AWS makes on the function's behalf, not calls of the handler's code. */
const XRAY = {
  "xray:PutTraceSegments": "Lambda's X-Ray tracing (lambda.tracing)",
  "xray:PutTelemetryRecords": "Lambda's X-Ray tracing (lambda.tracing)",
};
const ON_BEHALF: Record<LambdaName, Record<string, string>> = {
  extractor: {
    ...XRAY,
    "logs:CreateLogStream": "Lambda writes the function's logs",
    "logs:PutLogEvents": "Lambda writes the function's logs",
    "redshift-serverless:GetCredentials": "the Data API gets temporary database credentials for the role (no source.secretArn)",
  },
  consumer: {
    ...XRAY,
    "logs:CreateLogStream": "Lambda writes the function's logs",
    "logs:PutLogEvents": "Lambda writes the function's logs",
    "sqs:ReceiveMessage": "the SQS event source mapping polls with the function's role",
    "sqs:DeleteMessage": "the event source mapping deletes processed messages",
    "sqs:ChangeMessageVisibility": "the event source mapping returns failed messages",
    "sqs:GetQueueAttributes": "the event source mapping reads the queue",
    "sqs:GetQueueUrl": "the event source mapping resolves the queue",
  },
  segment: {
    ...XRAY,
    "logs:CreateLogStream": "Lambda writes the function's logs",
    "logs:PutLogEvents": "Lambda writes the function's logs",
  },
  reconcile: {
    ...XRAY,
    "logs:CreateLogStream": "Lambda writes the function's logs",
    "logs:PutLogEvents": "Lambda writes the function's logs",
    "redshift-serverless:GetCredentials": "the Data API gets temporary database credentials for the role (no source.secretArn)",
  },
  // (test/lib/iam-coverage-import.test.ts runs the importer.)
  importer: {},
  watch: {},
};

/**
 * The IAM action a recorded operation needs: SQS's batch operations are authorized by their single forms, and
 * Lambda's Invoke operation by lambda:InvokeFunction.
 */
function actionOf(c: AwsCall): string {
  const batch: Record<string, string> = { SendMessageBatch: "SendMessage", DeleteMessageBatch: "DeleteMessage", ChangeMessageVisibilityBatch: "ChangeMessageVisibility" };
  if (c.service === "lambda" && c.operation === "Invoke") return "lambda:InvokeFunction";
  return `${c.service}:${c.service === "sqs" ? (batch[c.operation] ?? c.operation) : c.operation}`;
}

describe("IAM coverage: every AWS call the Lambdas make is allowed by their roles, and they hold nothing else", () => {
  const calls: AwsCall[] = [];
  let config: SyncConfig;
  let template: Template;
  const local = { table: "" };
  const SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth0-created-by-the-stack";

  beforeAll(async () => {
    config = exampleConfigWith({
      mirror: { enabled: true, action: "delete", threshold: { maxCount: 1000, maxShare: 0.9 } },
      auth0: { maxRetries: 0 },
      reconcile: { repair: true },
    });
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    const remember = (env: LocalEnvironment) => {
      local.table = env.ledgerFor!().tableName;
    };
    const rows = demoRows(30, (i) => (i === 4 ? "ghost" : "viewer"));
    // Creates, an unknown role rejected by the consumer, 5xx answers retried (the reasons recorded), a Scan.
    await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, rows), rate: 500, failRate: 0.2, retryDelaySeconds: 0, awsCalls: calls, onEnvironment: remember, unchangedCheck: "scan" });
    // Two rows gone (mirror deletes), one changed (a PATCH), the unchanged check by lookup (BatchGetItem).
    const next = rows.filter((r) => r.id !== "c-0010" && r.id !== "c-0011").map((r) => (r.id === "c-0001" ? { ...r, first: "Renamed" } : r));
    await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, next), rate: 500, awsCalls: calls, unchangedCheck: "lookup" });
    // Another extract holds the run lock: this one is skipped, naming the holder (GetItem).
    const skipped = await runLocalPipeline({
      config,
      stateDir,
      csv: writeCsv(csv, next),
      rate: 500,
      awsCalls: calls,
      onEnvironment: async (env) => void (await env.ledgerFor!().runs.acquireLock("run-elsewhere", 60_000)),
    });
    expect(skipped.skipped).toBe("another extract (run-elsewhere) is running");

    // A reconcile: drift repaired (SendMessage), a user adopted (BatchWriteItem), a key two users carry (its seed
    // taken back: DeleteItem), and an export longer than the function's time (the job recorded, the function
    // invoked again to continue it).
    const tenantFile = join(stateDir, "tenant.json");
    const tenant = JSON.parse(readFileSync(tenantFile, "utf8")) as TenantState;
    const user = (key: string) => tenant.users.find((u) => u.app_metadata.sync_key === key)!;
    user("c-0002").given_name = "Edited";
    const stranger = (id: string, key: string) => ({ ...user("c-0003"), user_id: `auth0|${id.padStart(24, "0")}`, email: `${id}@example.net`, app_metadata: { sync_key: key } });
    tenant.users.push(stranger("adopt1", "x-1"), stranger("twin1", "x-2"), stranger("twin2", "x-2"));
    // A user with no sync key whose email is a row's (c-0005, rejected by the first run): matched by reading the rows.
    tenant.users.push({ ...stranger("byemail", "-"), email: "user5@example.com", app_metadata: {} });
    writeFileSync(tenantFile, JSON.stringify(tenant));
    // Only users a row claims are adopted: the strangers' keys are rows' keys.
    const claimed = [...next, ...["x-1", "x-2"].map((id) => ({ id, email: `${id}@example.com`, first: "Stranger", roles: "viewer" }))];
    const reconciled = await runLocalReconcile({
      config,
      stateDir,
      csv: writeCsv(csv, claimed),
      rate: 500,
      awsCalls: calls,
      functionTimeoutMs: 2_000,
      poll: { initialMs: 50, maxMs: 100 },
      onEnvironment: (env) => env.emulator!.setExportJobSettings({ durationMs: 3_000 }),
    });
    expect(reconciled).toMatchObject({ drifted: 1, repairsQueued: 1, adopted: 2, ambiguous: 1 });
    expect(reconciled.invocations).toBeGreaterThan(1);

    // In AWS the consumer reads its Auth0 credentials from Secrets Manager (locally they come from the environment).
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ client_id: "id", client_secret: "secret" }) });
    const saved = { ...process.env };
    const quiet = { logger: new Logger({ logLevel: "SILENT" }), metrics: new Metrics({ namespace: "Test" }) };
    try {
      delete process.env.AUTH0_CLIENT_ID;
      delete process.env.AUTH0_CLIENT_SECRET;
      Object.assign(process.env, { SYNC_CONFIG: JSON.stringify(config), AUTH0_CREDENTIALS_SECRET_ARN: SECRET_ARN, LEDGER_TABLE: local.table, QUEUE_URL: "http://127.0.0.1:9/000000000000/unused", AWS_REGION: "eu-west-1" });
      await consumerDefaultDeps(quiet);
      for (const c of sm.commandCalls(GetSecretValueCommand)) calls.push({ fn: "consumer", service: "secretsmanager", operation: "GetSecretValue", resources: { secretId: c.args[0].input.SecretId } });
      // Powertools caches the secret per process: cleared so the reconcile's own read is seen.
      sm.resetHistory();
      clearCaches();
      await reconcileDefaultDeps(quiet);
      for (const c of sm.commandCalls(GetSecretValueCommand)) calls.push({ fn: "reconcile", service: "secretsmanager", operation: "GetSecretValue", resources: { secretId: c.args[0].input.SecretId } });
    } finally {
      process.env = saved;
      sm.restore();
    }

    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new Auth0SyncStack(app, "iam", { config, env: PSEUDO });
    template = Template.fromStack(stack);
  }, 240_000);

  /** The ARN a recorded call acts on, in the template's terms (`logical:<LogicalId>` for the stack's resources). */
  function resourceOf(c: AwsCall): string {
    const only = (type: string, pick: (p: Record<string, unknown>) => boolean = () => true) => {
      const ids = Object.entries(template.findResources(type)).filter(([, r]) => pick((r as { Properties: Record<string, unknown> }).Properties));
      expect(ids, type).toHaveLength(1);
      return `logical:${ids[0]![0]}`;
    };
    const r = c.resources;
    if (r.table) {
      expect(r.table).toBe(local.table);
      return only("AWS::DynamoDB::GlobalTable") + (r.index ? `/index/${r.index}` : "");
    }
    if (r.queueUrl) {
      // Each local run has its own SQS server (a new port); the queue's name says which queue it is.
      const local = r.queueUrl.split("/").at(-1);
      const names: Record<string, string> = { [`${config.name}-queue`]: `auth0-sync-${config.name}`, [`${config.name}-dlq`]: `auth0-sync-${config.name}-dlq`, [`${config.name}-import`]: `auth0-sync-${config.name}-import`, [`${config.name}-writes`]: `auth0-sync-${config.name}-writes` };
      const name = names[local ?? ""] ?? "?";
      return only("AWS::SQS::Queue", (p) => p.QueueName === name);
    }
    if (r.workgroup) return `arn:aws:redshift-serverless:${PSEUDO.region}:${PSEUDO.account}:workgroup/0a1b2c3d-workgroup-id`;
    if (r.cluster) return `arn:aws:redshift:${PSEUDO.region}:${PSEUDO.account}:cluster:${r.cluster}`;
    // The reconcile invokes itself by its fixed name (`${stack}-reconcile`); locally the function is "reconcile".
    if (r.functionName) return `arn:aws:lambda:${PSEUDO.region}:${PSEUDO.account}:function:iam-${r.functionName}`;
    if (r.secretId) {
      expect(r.secretId).toBe(SECRET_ARN);
      return only("AWS::SecretsManager::Secret");
    }
    // DescribeStatement, GetStatementResult: no resource-level permission; IAM wants "*".
    return "*";
  }

  it("the scenarios took every path that calls AWS", () => {
    const seen = (fn: LambdaName) => [...new Set(calls.filter((c) => c.fn === fn).map(actionOf))].sort();
    expect(seen("extractor")).toEqual([
      "dynamodb:BatchGetItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
      "redshift-data:DescribeStatement",
      "redshift-data:ExecuteStatement",
      "redshift-data:GetStatementResult",
      "sqs:GetQueueAttributes",
      "sqs:SendMessage",
    ]);
    // (SendMessage: created users' roles to the writes queue.)
    expect(seen("consumer")).toEqual(["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "secretsmanager:GetSecretValue", "sqs:SendMessage"]);
    expect(seen("reconcile")).toEqual([
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Scan",
      "lambda:InvokeFunction",
      "redshift-data:DescribeStatement",
      "redshift-data:ExecuteStatement",
      "redshift-data:GetStatementResult",
      "secretsmanager:GetSecretValue",
      "sqs:GetQueueAttributes",
      "sqs:SendMessage",
    ]);
  });

  for (const fn of ["extractor", "consumer", "reconcile"] as const) {
    it(`${fn}: each recorded call is allowed by its role (action and resource)`, () => {
      const statements = roleStatements(template, `auth0-sync ${config.name} ${fn}`);
      const denied = new Set<string>();
      for (const c of calls.filter((x) => x.fn === fn)) {
        const action = actionOf(c);
        const resource = resourceOf(c);
        if (!allows(statements, action, resource, PSEUDO)) denied.add(`${action} on ${resource}`);
      }
      expect([...denied]).toEqual([]);
    });

    it(`${fn}: its role holds no action that no handler call and no AWS service needs`, () => {
      const statements = roleStatements(template, `auth0-sync ${config.name} ${fn}`);
      const used = new Set(calls.filter((c) => c.fn === fn).map(actionOf));
      const unused = grantedActions(statements).filter((a) => !used.has(a) && !(a in ON_BEHALF[fn]));
      expect(unused).toEqual([]);
    });
  }
});
