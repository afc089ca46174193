/**
 * Consumer Lambda: wiring only. Production dependencies (config from the environment, credentials from Secrets
 * Manager, one Auth0 adapter per instance at its share of the budget, the ledger); the work is the consumer flow
 * (functions/flows/consumer-lambda.ts).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { QueueSender } from "../adapters/sqs/sender.js";
import { Auth0Adapter, auth0OptionsFromConfig } from "../adapters/auth0/client.js";
import { PacerSet } from "../adapters/auth0/pacers.js";
import { Ledger } from "../adapters/ledger/ledger.js";
import { loadAuth0Credentials, loadConfig } from "../adapters/runtime/config.js";
import { consumerBudget } from "../core/budget.js";
import { createConsumerHandler, type ConsumerDepsFactory } from "../flows/consumer-lambda.js";

export const defaultDeps: ConsumerDepsFactory = async ({ logger }) => {
  const config = loadConfig();
  const credentials = await loadAuth0Credentials(config);
  // Each concurrent Lambda instance gets an equal share of the tenant budget (see docs/architecture.md, "Rate budget").
  const pacer = PacerSet.fromShares(consumerBudget(config));
  const ledger = process.env.LEDGER_TABLE ? new Ledger(new DynamoDBClient({}), process.env.LEDGER_TABLE) : undefined;
  // The writes queue (core/created-writes.ts): created users' roles and memberships, grouped across invocations.
  const createdWrites = process.env.WRITES_QUEUE_URL ? new QueueSender(new SQSClient({}), process.env.WRITES_QUEUE_URL) : undefined;
  return { config, auth0: new Auth0Adapter({ ...auth0OptionsFromConfig(config, credentials, process.env, pacer), pacer }), logger, ledger, createdWrites };
};

export const handler = createConsumerHandler(defaultDeps);
