/**
 * Reconcile Lambda: wiring only. Started by its own schedule (config `reconcile.schedule`) or by `auth0-sync
 * reconcile`; production dependencies (config from the environment, credentials from Secrets Manager, the snapshot
 * over the adapter, the ledger, the queue); the work is the reconcile flow (functions/flows/reconcile-lambda.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { SQSClient } from "@aws-sdk/client-sqs";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { Auth0Adapter, auth0OptionsFromConfig } from "../adapters/auth0/client.js";
import { PacerSet } from "../adapters/auth0/pacers.js";
import { Auth0Snapshot } from "../adapters/auth0/snapshot.js";
import { Ledger } from "../adapters/ledger/ledger.js";
import { RedshiftSource } from "../adapters/redshift/source.js";
import { loadAuth0Credentials, loadConfig } from "../adapters/runtime/config.js";
import { QueueSender } from "../adapters/sqs/sender.js";
import { queueDepth } from "../adapters/sqs/redrive.js";
import { consumerBudget } from "../core/budget.js";
import { reconcileAdmission } from "../flows/reconcile-admission.js";
import { createReconcileHandler, type ReconcileDepsFactory } from "../flows/reconcile-lambda.js";

export const defaultDeps: ReconcileDepsFactory = async ({ logger }) => {
  const config = loadConfig();
  const queueUrl = process.env.QUEUE_URL;
  const table = process.env.LEDGER_TABLE;
  if (!queueUrl || !table) throw new Error("QUEUE_URL and LEDGER_TABLE must be set");
  const credentials = await loadAuth0Credentials(config);
  // One instance at a time (reserved concurrency 1) with one consumer's share of the budget: the consumers keep theirs.
  const share = consumerBudget(config);
  const auth0 = new Auth0Adapter({ ...auth0OptionsFromConfig(config, credentials), pacer: PacerSet.fromShares(share) });
  const sqs = new SQSClient({});
  const sender = new QueueSender(sqs, queueUrl);
  const ledger = new Ledger(new DynamoDBClient({}), table);
  const lambda = new LambdaClient({});
  return {
    config,
    ledger,
    admit: () => reconcileAdmission(ledger, () => queueDepth(sqs, queueUrl)),
    auth0,
    reader: new Auth0Snapshot(auth0, { connection: config.auth0.connection }),
    // Only users a row claims are adopted: the table is read first (by key, and by email for users with no sync key).
    rows: config.source.type === "redshift" ? new RedshiftSource(new RedshiftDataClient({}), config.source) : undefined,
    send: (bodies) => sender.send(bodies),
    logger,
    repair: config.reconcile?.repair ?? true,
    continueLater: async (event, context) => {
      await lambda.send(new InvokeCommand({ FunctionName: context.functionName, InvocationType: "Event", Payload: JSON.stringify(event) }));
    },
  };
};

export const handler = createReconcileHandler(defaultDeps);
