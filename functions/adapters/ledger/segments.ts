/**
 * The segments of a run over an unloaded table, in the ledger: one item per finished segment (`G#<run id>#<index>`)
 * holding its figures. Written once, when the segment's users are all sent: a worker retried after that (a Map
 * retry, a redriven execution) finds it and sends nothing again; the finishing step reads them all to sum the run.
 */
import { BatchGetCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { SegmentRecord, SegmentTally } from "../../core/segments.js";
import { BATCH_ATTEMPTS, ITEM, type LedgerTable } from "./table.js";

const pk = (runId: string, index: number) => `${ITEM.segment}${runId}#${index}`;

export class SegmentLedger {
  constructor(private readonly t: LedgerTable) {}

  async get(runId: string, index: number): Promise<SegmentRecord | undefined> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: pk(runId, index) }, ConsistentRead: true }));
    return res.Item ? { runId, tally: res.Item.tally as SegmentTally, finishedAt: String(res.Item.finishedAt) } : undefined;
  }

  /** Records a finished segment (the first record stands: a second worker of the same segment changes nothing). */
  async put(record: SegmentRecord): Promise<boolean> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    return this.t.conditionally(() =>
      this.t.doc.send(
        new PutCommand({
          TableName: this.t.tableName,
          Item: { pk: pk(record.runId, record.tally.index), runId: record.runId, tally: record.tally, finishedAt: record.finishedAt },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      ),
    );
  }

  /** The finished segments of a run among `count` (100 keys per BatchGetItem, unprocessed keys retried). */
  async finished(runId: string, count: number): Promise<SegmentTally[]> {
    const out: SegmentTally[] = [];
    for (let start = 0; start < count; start += 100) {
      let keys: Record<string, unknown>[] = Array.from({ length: Math.min(100, count - start) }, (_, i) => ({ pk: pk(runId, start + i) }));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt >= BATCH_ATTEMPTS) throw new Error(`the ledger left ${keys.length} segment reads unprocessed after ${BATCH_ATTEMPTS} attempts`);
        this.t.stats.requests++;
        const res = await this.t.doc.send(new BatchGetCommand({ RequestItems: { [this.t.tableName]: { Keys: keys, ConsistentRead: true } } }));
        for (const item of res.Responses?.[this.t.tableName] ?? []) out.push(item.tally as SegmentTally);
        keys = (res.UnprocessedKeys?.[this.t.tableName]?.Keys ?? []) as Record<string, unknown>[];
        if (keys.length > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
    }
    this.t.stats.reads += out.length;
    return out.sort((a, b) => a.index - b.index);
  }
}
