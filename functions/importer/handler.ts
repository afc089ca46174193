/**
 * Importer Lambda: wiring only. Production dependencies (config from the environment, credentials from Secrets
 * Manager, an Auth0 adapter at one consumer's share of the budget and its import jobs, the ledger, the main queue
 * for users the import hands to the per-user path); the work is the importer flow (functions/flows/importer-lambda.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { Auth0Adapter, auth0OptionsFromConfig } from "../adapters/auth0/client.js";
import { Auth0Imports } from "../adapters/auth0/imports.js";
import { PacerSet } from "../adapters/auth0/pacers.js";
import { Ledger } from "../adapters/ledger/ledger.js";
import { loadAuth0Credentials, loadConfig } from "../adapters/runtime/config.js";
import { QueueSender } from "../adapters/sqs/sender.js";
import { consumerBudget } from "../core/budget.js";
import { createImporterHandler, type ImporterDepsFactory } from "../flows/importer-lambda.js";

export const defaultDeps: ImporterDepsFactory = async ({ logger }) => {
  const queueUrl = process.env.QUEUE_URL;
  const table = process.env.LEDGER_TABLE;
  if (!queueUrl || !table) throw new Error("QUEUE_URL and LEDGER_TABLE must be set");
  const config = loadConfig();
  const credentials = await loadAuth0Credentials(config);
  const pacer = PacerSet.fromShares(consumerBudget(config));
  const auth0 = new Auth0Adapter({ ...auth0OptionsFromConfig(config, credentials, process.env, pacer), pacer });
  const ledger = new Ledger(new DynamoDBClient({}), table);
  const sqs = new SQSClient({});
  // Imported users' roles and memberships go to the writes queue, grouped there (core/created-writes.ts).
  const createdWrites = process.env.WRITES_QUEUE_URL ? new QueueSender(sqs, process.env.WRITES_QUEUE_URL) : undefined;
  return { config, auth0, logger, ledger, imports: new Auth0Imports(auth0, config.auth0.connection), perUser: new QueueSender(sqs, queueUrl), createdWrites };
};

export const handler = createImporterHandler(defaultDeps);
