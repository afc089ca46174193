/**
 * The importer Lambda's invocation: each SQS record an import batch (adapters/sqs/import-message.ts) through its
 * Auth0 import job (import-run.ts), with partial batch responses; a batch that must be followed or tried again
 * fails its record, so SQS delivers it again and the ledger's record of its job makes that delivery go on from
 * where it stopped. The event source runs at most two at once: Auth0 runs two import jobs of a tenant at a time.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { emitMetric } from "../adapters/runtime/metrics.js";
import { parseImportBatch } from "../adapters/sqs/import-message.js";
import { lambdaHandler, type DepsFactory } from "../commons/lambda.js";
import type { Powertools } from "../commons/powertools.js";
import { importBatch, type ImporterDeps } from "./import-run.js";
import { MalformedMessageError } from "./record-flow.js";

export type ImporterDepsFactory = DepsFactory<ImporterDeps>;

async function importRecords(d: ImporterDeps, event: SQSEvent, context: Context, { metrics }: Powertools): Promise<SQSBatchResponse> {
  const before = { calls: d.auth0.stats.calls };
  const remaining = () => (typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() : Number.POSITIVE_INFINITY);
  const totals = { jobs: 0, imported: 0, perUser: 0 };
  const recordHandler = async (record: SQSRecord) => {
    const parsed = parseImportBatch(record.body);
    if (!parsed.ok) {
      d.logger.error("malformed import batch", { messageId: record.messageId, reason: parsed.reason });
      throw new MalformedMessageError(record.messageId, parsed.reason);
    }
    const tally = await importBatch(d, parsed.message, remaining);
    totals.jobs += tally.jobs;
    totals.imported += tally.imported;
    totals.perUser += tally.perUser;
  };
  const response = await processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), { context, throwOnFullBatchFailure: false });
  emitMetric(metrics, "ImportJobs", totals.jobs);
  emitMetric(metrics, "ImportedUsers", totals.imported);
  emitMetric(metrics, "ImportFallbacks", totals.perUser);
  emitMetric(metrics, "ImportAuth0Calls", d.auth0.stats.calls - before.calls);
  return response;
}

/** The importer's handler over the given dependencies (made once per instance). */
export function createImporterHandler(factory: ImporterDepsFactory) {
  return lambdaHandler("importer", factory, importRecords);
}
