/**
 * The import jobs of the ledger: one item per import batch (`I#<batch id>`), so a batch delivered again (a consumer
 * killed while its job ran, a timeout) follows the job it already submitted instead of submitting its users twice.
 * A batch is `submitting` from just before the job is created, `submitted` with the job's id once Auth0 answered,
 * and `done` once every user's outcome is recorded.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { ITEM, type LedgerTable } from "./table.js";

export type ImportBatchState = "submitting" | "submitted" | "done";

export interface ImportBatchRecord {
  batchId: string;
  runId: string;
  state: ImportBatchState;
  jobId?: string;
  submittedAt?: string;
  /** The ids of the users in the job's file (the batch's others went the per-user way). */
  userIds?: string[];
}

const pk = (batchId: string) => `${ITEM.importBatch}${batchId}`;

export class ImportLedger {
  constructor(private readonly t: LedgerTable) {}

  async get(batchId: string): Promise<ImportBatchRecord | undefined> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: pk(batchId) }, ConsistentRead: true }));
    const i = res.Item;
    return i
      ? { batchId, runId: String(i.runId), state: i.state as ImportBatchState, jobId: i.jobId as string | undefined, submittedAt: i.submittedAt as string | undefined, userIds: i.userIds as string[] | undefined }
      : undefined;
  }

  /** Claims the batch before its job is created; false when another delivery claimed it first. */
  async begin(batchId: string, runId: string, userIds: string[]): Promise<boolean> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    return this.t.conditionally(() =>
      this.t.doc.send(new PutCommand({ TableName: this.t.tableName, Item: { pk: pk(batchId), runId, state: "submitting", submittedAt: new Date().toISOString(), userIds }, ConditionExpression: "attribute_not_exists(pk)" })),
    );
  }

  /** The job Auth0 created for the batch. */
  async submitted(batchId: string, jobId: string): Promise<void> {
    await this.set(batchId, { state: "submitted", jobId });
  }

  /** Every user of the batch has its outcome recorded (or was handed to the per-user path); false when it was already. */
  async done(batchId: string): Promise<boolean> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    return this.t.conditionally(() =>
      this.t.doc.send(
        new UpdateCommand({
          TableName: this.t.tableName,
          Key: { pk: pk(batchId) },
          UpdateExpression: "SET #s = :done",
          ConditionExpression: "#s <> :done",
          ExpressionAttributeNames: { "#s": "state" },
          ExpressionAttributeValues: { ":done": "done" },
        }),
      ),
    );
  }

  /** Auth0 refused to create the job (nothing was submitted): the batch may be submitted again. */
  async release(batchId: string): Promise<void> {
    this.t.stats.requests++;
    await this.t.doc.send(new DeleteCommand({ TableName: this.t.tableName, Key: { pk: pk(batchId) }, ConditionExpression: "#s = :submitting", ExpressionAttributeNames: { "#s": "state" }, ExpressionAttributeValues: { ":submitting": "submitting" } })).catch((err: unknown) => {
      if ((err as { name?: string }).name !== "ConditionalCheckFailedException") throw err;
    });
  }

  private async set(batchId: string, fields: Record<string, string>): Promise<void> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    const entries = Object.entries(fields);
    await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: { pk: pk(batchId) },
        UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(", ")}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
      }),
    );
  }
}
