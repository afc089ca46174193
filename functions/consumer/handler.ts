/**
 * Consumer Lambda: SQS batches through Powertools' BatchProcessor with partial batch responses. Thin wiring;
 * the work is in consume.ts.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import middy from "@middy/core";
import { Ledger } from "../adapters/ledger/ledger.js";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { Auth0Adapter, auth0OptionsFromConfig } from "../adapters/auth0/client.js";
import { PacerSet } from "../adapters/auth0/pacers.js";
import { loadAuth0Credentials, loadConfig } from "../adapters/runtime/config.js";
import { consumerBudget } from "../core/config.js";
import { OUTCOMES, type Outcome } from "../core/outcomes.js";
import { METRICS_NAMESPACE, type MetricName } from "../core/metrics.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { consumeRecord, type ConsumerDeps } from "./consume.js";
import { WriteGroups } from "./write-groups.js";

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "auth0-sync-consumer" });
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "auth0-sync-consumer" });

export type ConsumerDepsFactory = (base: { logger: Logger }) => ConsumerDeps | Promise<ConsumerDeps>;

/** Production wiring: config from the environment, credentials from Secrets Manager, one adapter per instance. */
export const defaultDeps: ConsumerDepsFactory = async ({ logger }) => {
  const config = loadConfig();
  const credentials = await loadAuth0Credentials(config);
  // Each concurrent Lambda instance gets an equal share of the tenant budget (see docs/architecture.md, "Rate budget").
  const share = consumerBudget(config);
  const pacer = PacerSet.fromShares(share);
  const opts = auth0OptionsFromConfig(config, credentials, process.env, pacer);
  const ledger = process.env.LEDGER_TABLE ? new Ledger(new DynamoDBClient({}), process.env.LEDGER_TABLE) : undefined;
  return { config, auth0: new Auth0Adapter({ ...opts, pacer }), logger, ledger };
};

/** The metric of each outcome a consumer settles (dead-lettered users never reach one: see core/metrics.ts). */
const NAMES: Record<Exclude<Outcome, "deadLettered">, MetricName> = {
  created: "UsersCreated",
  updated: "UsersUpdated",
  unchanged: "UsersUnchanged",
  blocked: "UsersBlocked",
  deleted: "UsersDeleted",
  rejected: "UsersRejected",
};

export function createConsumerHandler(factory: ConsumerDepsFactory = defaultDeps) {
  let deps: Promise<ConsumerDeps> | undefined;
  return middy(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    deps ??= Promise.resolve(factory({ logger })).catch((err: unknown) => {
      deps = undefined;
      throw err;
    });
    const d = await deps;
    d.counters ??= { ledgerWriteFailures: 0 };
    const before = { calls: d.auth0.stats.calls, s429: d.auth0.stats.status429, ledger: d.counters.ledgerWriteFailures };
    const totals: Partial<Record<Outcome, number>> = {};
    // The records of an invocation run together, so their users' role assignments and memberships are grouped
    // across them (write-groups.ts); the pacers are the limit, and each operation checks the time left before it starts.
    const remaining = () => (typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : Number.POSITIVE_INFINITY);
    const groups = new WriteGroups(d.auth0, event.Records.length, { timeLeftMs: remaining, safetyMs: d.safetyMs });
    const invocation: ConsumerDeps = { ...d, groups };
    const processor = new BatchProcessor(EventType.SQS);
    const recordHandler = async (record: SQSRecord) => {
      const tally = await consumeRecord(invocation, record, remaining);
      for (const [o, n] of Object.entries(tally.outcomes)) totals[o as Outcome] = (totals[o as Outcome] ?? 0) + (n ?? 0);
    };
    const response = await processPartialResponse(event, recordHandler, processor, { context, processInParallel: true, throwOnFullBatchFailure: false });
    for (const o of OUTCOMES) if (o !== "deadLettered" && totals[o]) emitMetric(metrics, NAMES[o], totals[o] ?? 0);
    emitMetric(metrics, "Auth0Calls", d.auth0.stats.calls - before.calls);
    emitMetric(metrics, "Auth0Status429", d.auth0.stats.status429 - before.s429);
    const ledgerFailures = d.counters.ledgerWriteFailures - before.ledger;
    emitMetric(metrics, "LedgerWriteFailures", ledgerFailures);
    return response;
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}

export const handler = createConsumerHandler();
