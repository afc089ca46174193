/**
 * The watch Lambda's invocation: each SQS record an EventBridge event of the tenant's log stream (the rule's target
 * delivers the whole event; Auth0's log is its `detail`). The batch is judged at once (watch-run.ts), so events for
 * one user within the event source's batching window cost one read. The events of a user that could not be judged
 * fail alone and SQS delivers them again (a repeated event is harmless: the watch judges the user as it is then);
 * after the queue's receive count, they go to the watch's DLQ. Only a failure to send the repairs fails the batch.
 */
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { lambdaHandler, type DepsFactory } from "../commons/lambda.js";
import type { Powertools } from "../commons/powertools.js";
import { watchBatch, type WatchDeps } from "./watch-run.js";

export type WatchDepsFactory = DepsFactory<WatchDeps & { auth0: WatchDeps["auth0"] & { stats: { calls: number } } }>;

/** The event's `detail`, or undefined for a body that is not an EventBridge event (counted unreadable by the core). */
function detailOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { detail?: unknown }).detail;
  } catch {
    return undefined;
  }
}

async function watchRecords(d: Awaited<ReturnType<WatchDepsFactory>>, event: SQSEvent, _context: Context, { metrics }: Powertools): Promise<SQSBatchResponse> {
  const before = d.auth0.stats.calls;
  try {
    const r = await watchBatch(d, event.Records.map((rec) => detailOf(rec.body)));
    emitMetric(metrics, "WatchEvents", r.events);
    emitMetric(metrics, "WatchIgnored", Object.values(r.ignored).reduce((a, b) => a + b, 0));
    emitMetric(metrics, "WatchOutsideEdits", r.outsideEdits);
    emitMetric(metrics, "WatchRepaired", r.actions.repaired);
    emitMetric(metrics, "WatchReported", r.actions.reported);
    emitMetric(metrics, "WatchFights", r.actions.fight);
    emitMetric(metrics, "WatchRepairedFields", Object.values(r.repairedFields).reduce((a, b) => a + b, 0));
    // By field too (dimension Field: given_name, user_metadata.plan, roles, ...), each its own EMF record.
    for (const [field, n] of Object.entries(r.repairedFields)) {
      const single = metrics.singleMetric();
      single.addDimension("Field", field);
      emitMetric(single, "WatchRepairedFields", n);
    }
    emitMetric(metrics, "WatchFailedUsers", r.actions.failed);
    return { batchItemFailures: r.failed.map((i) => ({ itemIdentifier: event.Records[i]!.messageId })) };
  } catch (err) {
    d.logger.warn("watch batch failed; its events are delivered again", { error: (err as Error).message, records: event.Records.length });
    return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
  } finally {
    emitMetric(metrics, "WatchAuth0Calls", d.auth0.stats.calls - before);
  }
}

/** The watch's handler over the given dependencies (made once per instance). */
export function createWatchHandler(factory: WatchDepsFactory) {
  return lambdaHandler("watch", factory, watchRecords);
}
