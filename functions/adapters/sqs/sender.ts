/**
 * Packs user operations into messages (bounded by a count and by size, well under SQS's 256 KB) and sends them
 * with SendMessageBatch, 10 entries a call and at most 256 KB a call, retrying entries that failed.
 */
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from "@aws-sdk/client-sqs";
import { SyncError } from "../../core/errors.js";
import { MESSAGE_VERSION, type UserOperation } from "./message.js";
import { setTimeout as sleep } from "node:timers/promises";

/** SQS allows 256 KiB per message and per batch call; stay well under it. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_BATCH_BYTES = 250 * 1024;
export const MAX_BATCH_ENTRIES = 10;

export class QueueSendError extends SyncError {
  override readonly name = "QueueSendError";
  readonly retryable = true;
  constructor(
    message: string,
    readonly failedEntries: number,
  ) {
    super(message);
  }
}

/** Splits operations into message bodies of at most `maxOps` operations and `maxBytes` bytes each. */
export function packMessages(runId: string, ops: UserOperation[], maxOps: number, maxBytes = MAX_MESSAGE_BYTES): { body: string; count: number }[] {
  const out: { body: string; count: number }[] = [];
  const envelope = (items: string[]) => `{"v":${MESSAGE_VERSION},"runId":${JSON.stringify(runId)},"ops":[${items.join(",")}]}`;
  const overhead = Buffer.byteLength(envelope([]));
  let items: string[] = [];
  let size = overhead;
  for (const op of ops) {
    const s = JSON.stringify(op);
    const bytes = Buffer.byteLength(s) + 1;
    if (overhead + bytes > maxBytes) {
      throw new RangeError(`one operation (${op.kind === "sync" ? `row ${op.row}` : `key ${op.keyLabel}`}) is ${bytes} bytes, over the ${maxBytes}-byte message bound`);
    }
    if (items.length > 0 && (items.length >= maxOps || size + bytes > maxBytes)) {
      out.push({ body: envelope(items), count: items.length });
      items = [];
      size = overhead;
    }
    items.push(s);
    size += bytes;
  }
  if (items.length > 0) out.push({ body: envelope(items), count: items.length });
  return out;
}

export interface SendStats {
  messages: number;
  requests: number;
  retriedEntries: number;
}


export class QueueSender {
  readonly stats: SendStats = { messages: 0, requests: 0, retriedEntries: 0 };
  private seq = 0;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    private readonly opts: { maxAttempts?: number; baseDelayMs?: number } = {},
  ) {}

  /** Sends the bodies; resolves when every one is accepted, or throws a retryable QueueSendError. */
  async send(bodies: string[]): Promise<void> {
    for (const group of batches(bodies)) {
      let entries: SendMessageBatchRequestEntry[] = group.map((body) => ({ Id: `m${this.seq++}`, MessageBody: body }));
      const maxAttempts = this.opts.maxAttempts ?? 5;
      for (let attempt = 1; entries.length > 0; attempt++) {
        this.stats.requests++;
        const res = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
        const failed = new Set((res.Failed ?? []).map((f) => f.Id));
        this.stats.messages += entries.length - failed.size;
        const senderFault = (res.Failed ?? []).filter((f) => f.SenderFault);
        if (senderFault.length > 0) {
          throw new QueueSendError(`SQS refused ${senderFault.length} message(s) as malformed: ${senderFault[0]?.Code} ${senderFault[0]?.Message ?? ""}`, failed.size);
        }
        entries = entries.filter((e) => failed.has(e.Id));
        if (entries.length === 0) break;
        if (attempt >= maxAttempts) {
          throw new QueueSendError(`SQS did not accept ${entries.length} message(s) after ${attempt} attempts`, entries.length);
        }
        this.stats.retriedEntries += entries.length;
        await sleep((this.opts.baseDelayMs ?? 100) * 2 ** (attempt - 1));
      }
    }
  }
}

/** Groups bodies into SendMessageBatch calls: at most 10 entries and MAX_BATCH_BYTES each. */
export function batches(bodies: string[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const b of bodies) {
    const bytes = Buffer.byteLength(b);
    if (cur.length > 0 && (cur.length >= MAX_BATCH_ENTRIES || size + bytes > MAX_BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(b);
    size += bytes;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
