/**
 * Watch Lambda: wiring only. Production dependencies (config from the environment, credentials from Secrets
 * Manager, an Auth0 adapter at one consumer's share of the budget, the ledger, the sync's queue for repairs); the
 * work is the watch flow (functions/flows/watch-lambda.ts). Its event source is the watch queue, the target of the
 * EventBridge rule on the tenant's log stream.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { Auth0Adapter, auth0OptionsFromConfig } from "../adapters/auth0/client.js";
import { PacerSet } from "../adapters/auth0/pacers.js";
import { Ledger } from "../adapters/ledger/ledger.js";
import { loadAuth0Credentials, loadConfig } from "../adapters/runtime/config.js";
import { QueueSender } from "../adapters/sqs/sender.js";
import { consumerBudget } from "../core/budget.js";
import { createWatchHandler, type WatchDepsFactory } from "../flows/watch-lambda.js";

export const defaultDeps: WatchDepsFactory = async ({ logger }) => {
  const queueUrl = process.env.QUEUE_URL;
  const table = process.env.LEDGER_TABLE;
  if (!queueUrl || !table) throw new Error("QUEUE_URL and LEDGER_TABLE must be set");
  const config = loadConfig();
  const credentials = await loadAuth0Credentials(config);
  const auth0 = new Auth0Adapter({ ...auth0OptionsFromConfig(config, credentials), pacer: PacerSet.fromShares(consumerBudget(config)) });
  const sender = new QueueSender(new SQSClient({}), queueUrl);
  const ledger = new Ledger(new DynamoDBClient({}), table);
  return { config, auth0, logger, ledger, send: (bodies) => sender.send(bodies), ownClientIds: [credentials.clientId] };
};

export const handler = createWatchHandler(defaultDeps);
