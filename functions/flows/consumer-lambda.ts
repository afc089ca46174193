/**
 * The consumer Lambda's invocation: SQS batches through Powertools' BatchProcessor with partial batch responses,
 * the records of one invocation run together so their users' role assignments and memberships are grouped across
 * them (write-groups.ts), each record through the record flow (record-flow.ts), and the invocation's metrics. The
 * handler module (functions/consumer/handler.ts) gives the production dependencies; the local runner and the tests
 * give theirs.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { OUTCOMES, type Outcome } from "../core/outcomes.js";
import type { MetricName } from "../core/metrics.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { lambdaHandler, type DepsFactory } from "../commons/lambda.js";
import type { Powertools } from "../commons/powertools.js";
import { WRITES_QUEUE_SUFFIX } from "../core/created-writes.js";
import { applyCreatedWrites } from "./created-writes.js";
import { consumeRecord, type ConsumerDeps } from "./record-flow.js";
import { WriteGroups } from "./write-groups.js";

export type ConsumerDepsFactory = DepsFactory<ConsumerDeps>;

/** The metric of each outcome a consumer settles (dead-lettered users never reach one: see core/metrics.ts). */
const NAMES: Record<Exclude<Outcome, "deadLettered">, MetricName> = {
  created: "UsersCreated",
  updated: "UsersUpdated",
  unchanged: "UsersUnchanged",
  blocked: "UsersBlocked",
  deleted: "UsersDeleted",
  rejected: "UsersRejected",
};

async function consumeBatch(d: ConsumerDeps, event: SQSEvent, context: Context, { metrics }: Powertools): Promise<SQSBatchResponse> {
  d.counters ??= { ledgerWriteFailures: 0 };
  const before = { calls: d.auth0.stats.calls, s429: d.auth0.stats.status429, ledger: d.counters.ledgerWriteFailures };
  const totals: Partial<Record<Outcome, number>> = {};
  // The records of an invocation run together, so their users' role assignments and memberships are grouped
  // across them (write-groups.ts); the pacers are the limit, and each operation checks the time left before it starts.
  const remaining = () => (typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : Number.POSITIVE_INFINITY);
  const add = (outcomes: Partial<Record<Outcome, number>>) => {
    for (const [o, n] of Object.entries(outcomes)) totals[o as Outcome] = (totals[o as Outcome] ?? 0) + (n ?? 0);
  };
  let response: SQSBatchResponse;
  // The writes queue's invocations (its name ends so, deployed and local); a batch of created users redriven to the
  // main queue is worked on there the per-user way, as any other record.
  if (event.Records.length > 0 && event.Records[0]?.eventSourceARN?.endsWith(WRITES_QUEUE_SUFFIX)) {
    // The writes queue: users created by consumers, their roles and memberships grouped across the batch.
    const applied = await applyCreatedWrites(d, event.Records, remaining);
    add(applied.outcomes);
    response = applied.response;
  } else {
    const groups = new WriteGroups(d.auth0, event.Records.length, { timeLeftMs: remaining, safetyMs: d.safetyMs });
    const invocation: ConsumerDeps = { ...d, groups };
    const recordHandler = async (record: SQSRecord) => add((await consumeRecord(invocation, record, remaining)).outcomes);
    response = await processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), { context, processInParallel: true, throwOnFullBatchFailure: false });
  }
  for (const o of OUTCOMES) if (o !== "deadLettered" && totals[o]) emitMetric(metrics, NAMES[o], totals[o] ?? 0);
  emitMetric(metrics, "Auth0Calls", d.auth0.stats.calls - before.calls);
  emitMetric(metrics, "Auth0Status429", d.auth0.stats.status429 - before.s429);
  emitMetric(metrics, "LedgerWriteFailures", d.counters.ledgerWriteFailures - before.ledger);
  return response;
}

/** The consumer's handler over the given dependencies (made once per instance). */
export function createConsumerHandler(factory: ConsumerDepsFactory) {
  return lambdaHandler("consumer", factory, consumeBatch);
}
