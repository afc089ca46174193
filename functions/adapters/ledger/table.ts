/**
 * The ledger's DynamoDB table as its three stores share it (users.ts, runs.ts, reconciles.ts): one document client,
 * one set of request counters, and the item keys' prefixes (core/ledger-keys.ts names the table's key attributes).
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export class LedgerTable {
  readonly doc: DynamoDBDocumentClient;
  /** Items read and written and requests sent, over the three stores (the bench and the tests read them). */
  readonly stats = { reads: 0, writes: 0, requests: 0 };

  constructor(
    readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true } });
  }

  /** A conditional write: true when it was made, false when its condition did not hold. */
  async conditionally(write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if ((err as { name?: string }).name !== "ConditionalCheckFailedException") throw err;
      return false;
    }
  }
}

/** Item key prefixes: an identity, a run, a run's segment, an import batch, and the single items of the run lock and the reconcile. */
export const ITEM = { run: "R#", segment: "G#", importBatch: "I#", watchUser: "W#", watchLast: "WATCH#last", lock: "LOCK#run", reconcileJob: "RECONCILE#job", reconcileLast: "RECONCILE#last" } as const;

/** Retries of a batch request's unprocessed part, with backoff. */
export const BATCH_ATTEMPTS = 8;
