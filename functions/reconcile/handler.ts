/**
 * Reconcile Lambda: started by its own schedule (config `reconcile.schedule`) or by `auth0-sync reconcile`. Thin
 * wiring of the snapshot, ledger and queue adapters to session.ts. An invocation that runs out of time while the
 * export job runs invokes the function again (asynchronously) to continue the same job.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { SQSClient } from "@aws-sdk/client-sqs";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { Auth0Adapter, auth0OptionsFromConfig } from "../adapters/auth0/client.js";
import { PacerSet } from "../adapters/auth0/pacers.js";
import { Auth0Snapshot } from "../adapters/auth0/snapshot.js";
import { Ledger } from "../adapters/ledger/ledger.js";
import { RedshiftSource } from "../adapters/redshift/source.js";
import { loadAuth0Credentials, loadConfig } from "../adapters/runtime/config.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { QueueSender } from "../adapters/sqs/sender.js";
import { queueDepth } from "../adapters/sqs/redrive.js";
import { consumerBudget } from "../core/config.js";
import { METRICS_NAMESPACE } from "../core/metrics.js";
import { reconcileAdmission } from "./admission.js";
import { runReconcileSession, type ReconcileEvent, type SessionDeps, type SessionResult } from "./session.js";

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "auth0-sync-reconcile" });
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? "auth0-sync-reconcile" });

/** What an invocation needs besides its deadline: built once per instance. */
export type ReconcileInstance = Omit<SessionDeps, "deadline"> & {
  /** Starts the next invocation, which continues the export job this one ran out of time for. */
  continueLater?: (event: ReconcileEvent, context: Context) => Promise<void>;
};
export type ReconcileDepsFactory = (base: { logger: Logger }) => ReconcileInstance | Promise<ReconcileInstance>;

/** The time kept back from the export's wait for reading its file and judging the users (at most half the invocation). */
const READ_RESERVE_MS = 5 * 60_000;

/** Production wiring: config from the environment, credentials from Secrets Manager, the snapshot over the adapter. */
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

export function createReconcileHandler(factory: ReconcileDepsFactory = defaultDeps) {
  let deps: Promise<ReconcileInstance> | undefined;
  return middy(async (event: ReconcileEvent = {}, context: Context): Promise<SessionResult> => {
    deps ??= Promise.resolve(factory({ logger })).catch((err: unknown) => {
      deps = undefined;
      throw err;
    });
    const d = await deps;
    const remaining = typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : 15 * 60_000;
    const deadline = Date.now() + remaining - Math.min(READ_RESERVE_MS, remaining / 2);
    const outcome = await runReconcileSession({ ...d, deadline }, event ?? {});
    if (outcome.state === "running") {
      // A dry run records no job, so a continuation would start another export: it just reports "running".
      if (!event?.dryRun) await d.continueLater?.(event ?? {}, context);
      return outcome;
    }
    // Skipped: the next scheduled reconcile tries again.
    if (outcome.state === "skipped") return outcome;
    const r = outcome.result;
    emitMetric(metrics, "ReconcileUsersScanned", r.usersInTenant);
    emitMetric(metrics, "ReconcileManaged", r.managed);
    emitMetric(metrics, "ReconcileDrifted", r.drifted);
    emitMetric(metrics, "ReconcileRepaired", r.repairsQueued);
    emitMetric(metrics, "ReconcileAdopted", r.adopted);
    emitMetric(metrics, "ReconcileAuth0Calls", r.auth0Calls);
    return outcome;
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}

export const handler = createReconcileHandler();
