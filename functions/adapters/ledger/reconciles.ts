/**
 * The ledger's reconcile items in DynamoDB: the reconcile whose export job is in flight (so the next invocation
 * continues it, never starts a second one), and the last finished reconcile's record for `status`.
 */
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { ReconcileJob, ReconcileRecord } from "../../core/records.js";
import { ITEM, type LedgerTable } from "./table.js";

export class ReconcileLedger {
  constructor(private readonly t: LedgerTable) {}

  /** The reconcile in flight (its export job still running), if any. */
  async job(): Promise<ReconcileJob | undefined> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: ITEM.reconcileJob }, ConsistentRead: true }));
    const item = res.Item;
    return item && typeof item.reconcileId === "string" && typeof item.jobId === "string" ? { reconcileId: item.reconcileId, jobId: item.jobId, startedAt: String(item.startedAt) } : undefined;
  }

  /** Records a reconcile's export job before it is polled: a later invocation continues it, never starts another. */
  async putJob(job: ReconcileJob): Promise<void> {
    this.t.stats.requests++;
    await this.t.doc.send(new PutCommand({ TableName: this.t.tableName, Item: { pk: ITEM.reconcileJob, ...job } }));
  }

  /** Ends a reconcile: its figures become the last reconcile's, and its job is no longer in flight. */
  async finish(reconcileId: string, record: ReconcileRecord): Promise<void> {
    this.t.stats.requests += 2;
    await this.t.doc.send(new PutCommand({ TableName: this.t.tableName, Item: { pk: ITEM.reconcileLast, record: JSON.stringify(record) } }));
    // Not ours (a dry run's, or a later reconcile's): left as it is.
    await this.t.conditionally(() =>
      this.t.doc.send(new DeleteCommand({ TableName: this.t.tableName, Key: { pk: ITEM.reconcileJob }, ConditionExpression: "reconcileId = :r", ExpressionAttributeValues: { ":r": reconcileId } })),
    );
  }

  /** The last finished reconcile's record (its repairs' outcomes are counted under its id by the consumers: RunLedger). */
  async last(): Promise<ReconcileRecord | undefined> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: ITEM.reconcileLast }, ConsistentRead: true }));
    return typeof res.Item?.record === "string" ? (JSON.parse(res.Item.record) as ReconcileRecord) : undefined;
  }
}
