/**
 * The operations a run sends, packed many per SQS message (adapters/sqs/sender.ts) and sent a full
 * SendMessageBatch at a time, or what waited long enough: a few changed rows among many unchanged ones reach the
 * consumers while the read goes on, not at its end. A dry run (the plan) hands them to a callback instead.
 */
import type { SyncConfig } from "../core/config.js";
import { consumerBudget } from "../core/budget.js";
import type { UserOperation } from "../core/operations.js";
import type { RunAccounting } from "../core/outcomes.js";
import { MAX_BATCH_ENTRIES, packMessages, type QueueSender } from "../adapters/sqs/sender.js";

export class OperationBuffer {
  private buffer: UserOperation[] = [];
  private lastFlush = Date.now();
  /** Operations handed on (sent, or given to the dry run). */
  enqueued = 0;
  private readonly perMessage: number;
  /** Enough operations to fill one SendMessageBatch call before sending. */
  private readonly flushAt: number;
  private readonly spreadOver: number;

  constructor(
    config: SyncConfig,
    private readonly runId: string,
    private readonly accounting: RunAccounting,
    private readonly out: { sender: QueueSender } | { dryRun: (op: UserOperation) => void | Promise<void> },
    private readonly flushIntervalMs = 1000,
  ) {
    this.perMessage = config.queue.usersPerMessage;
    this.flushAt = this.perMessage * MAX_BATCH_ENTRIES;
    // A send of less than a full batch is spread over up to one message per consumer instance (at most one
    // SendMessageBatch), so a handful of changes is worked on by all instances at once, each at its share of the
    // rate limit, instead of by one.
    this.spreadOver = Math.min(MAX_BATCH_ENTRIES, consumerBudget(config).maxConcurrency);
  }

  /** Operations waiting to be sent. */
  get waiting(): number {
    return this.buffer.length;
  }

  push(ops: UserOperation[]): void {
    this.buffer.push(...ops);
  }

  /** Sends a full batch, or what waited longer than the flush interval. */
  async sendDue(): Promise<void> {
    if (this.buffer.length >= this.flushAt || (this.buffer.length > 0 && Date.now() - this.lastFlush >= this.flushIntervalMs)) await this.flush();
  }

  /** Sends everything waiting (each operation is then in flight until a consumer settles it). */
  async flush(): Promise<void> {
    this.lastFlush = Date.now();
    if (this.buffer.length === 0) return;
    if ("dryRun" in this.out) {
      for (const op of this.buffer) await this.out.dryRun(op);
    } else {
      const size = this.buffer.length >= this.flushAt ? this.perMessage : Math.min(this.perMessage, Math.ceil(this.buffer.length / this.spreadOver));
      await this.out.sender.send(packMessages(this.runId, this.buffer, size).map((b) => b.body));
    }
    this.enqueued += this.buffer.length;
    this.accounting.dispatch(this.buffer.length);
    this.buffer = [];
  }
}
