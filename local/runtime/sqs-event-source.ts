/**
 * Lambda's SQS event source mapping, locally: polls the queue, invokes the consumer with batches of up to
 * `batchSize` records from `maxConcurrency` instances at once, deletes what succeeded and makes what failed
 * (a batch item failure, a thrown error, a timeout) visible again; the queue's redrive policy does the rest.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { queueDepth } from "../../functions/adapters/sqs/redrive.js";
import { fakeContext } from "./lambda-context.js";

/** Delivery faults the event source plays (the reliability suite sets them through `Chaos`). */
export interface DeliveryFaults {
  /**
   * Milliseconds after which consumer invocation n (0-based, in start order) is given up as a Lambda timeout
   * would: its records are not deleted (SQS delivers them again), its instance is replaced by a fresh one, and
   * whatever it still does lands (in Auth0, in the ledger) but is not reported.
   */
  abandonInvocation?: (n: number) => number | undefined;
  /** Every message is delivered twice (SQS is at-least-once). */
  deliverTwice?: boolean;
}

/** One Lambda instance of the consumer. `retire` is called when it is given up (timed out) and replaced. */
export interface ConsumerInstance {
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;
  retire: () => void;
}

export interface EventSourceMapping {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  maxConcurrency: number;
  /** The consumer's timeout: each invocation's context counts down from it. */
  timeoutMs: number;
  /** How long to gather records before an invocation that is not full (Lambda's MaximumBatchingWindowInSeconds). */
  batchingWindowMs?: number;
  /** Seconds before a failed record is delivered again (default 1; see `LocalEnvironmentOptions`). */
  retryDelaySeconds?: number;
  faults?: DeliveryFaults;
  /** A fresh instance: one per concurrent consumer at the start, and one for each that timed out. */
  newInstance: () => ConsumerInstance;
  /**
   * The function's warm instances, when several event sources invoke one function (the consumer reads the main queue
   * and the writes queue): as in Lambda, an invocation takes an idle warm instance (with its pacer's knowledge of the
   * tenant) before a fresh one is started, and gives it back when it ends. Without it, each mapping has its own.
   */
  pool?: InstancePool;
}

/** One function's instances, shared by its event sources (see EventSourceMapping.pool). */
export class InstancePool {
  private readonly idle: ConsumerInstance[] = [];
  constructor(private readonly make: () => ConsumerInstance) {}
  take(): ConsumerInstance {
    return this.idle.pop() ?? this.make();
  }
  give(i: ConsumerInstance): void {
    this.idle.push(i);
  }
}

export interface DrainOptions {
  onPoll?: () => void;
  /** The producer: the queue is not drained before it has ended. */
  until?: Promise<unknown>;
  /** Cancelled: no new message is taken; the invocations under way finish. */
  signal?: AbortSignal;
}

function toRecord(m: Message, queueArn: string): SQSRecord {
  const a = m.Attributes ?? {};
  return {
    messageId: m.MessageId ?? "",
    receiptHandle: m.ReceiptHandle ?? "",
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1",
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? "local",
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: "us-east-1",
  };
}

/** Invokes the consumer with the queue's messages until nothing is visible or in flight (and `until` has ended). */
export async function drainQueue(mapping: EventSourceMapping, opts: DrainOptions): Promise<void> {
  const { sqs, queueUrl, queueArn, batchSize, timeoutMs } = mapping;
  const faults = mapping.faults ?? {};
  const pool = mapping.pool;
  const consumers = Array.from({ length: mapping.maxConcurrency }, () => (pool ? undefined : mapping.newInstance()));
  const abandoned: Promise<unknown>[] = [];
  const deliveredOnce = new Set<string>();
  let invocations = 0;
  const maxPerReceive = Math.min(10, batchSize);
  let draining = true;
  // Drained when the producer (the extract) has ended, whether it succeeded or not (what it enqueued is
  // consumed either way, as in AWS), and nothing is visible or in flight on the main queue.
  let producing = opts.until !== undefined;
  void opts.until?.then(
    () => (producing = false),
    () => (producing = false),
  );
  const worker = async (i: number) => {
    while (draining && !opts.signal?.aborted) {
      const records: SQSRecord[] = [];
      let windowEnds: number | undefined;
      while (records.length < batchSize) {
        const got = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: Math.min(maxPerReceive, batchSize - records.length), WaitTimeSeconds: 0, AttributeNames: ["All"] }),
        );
        if (!got.Messages?.length) {
          // A batching window: from the first record, more are gathered until it is full or the window ends.
          // Once the producer has ended nothing more can arrive, so waiting out the window would change no batch:
          // locally the window closes then (a deployed one runs its course; only the run's tail is shorter).
          const nothingMoreComing = opts.until !== undefined && !producing;
          if (records.length === 0 || !mapping.batchingWindowMs || Date.now() >= (windowEnds ?? 0) || nothingMoreComing || opts.signal?.aborted) break;
          await sleep(50);
          continue;
        }
        if (records.length === 0) windowEnds = Date.now() + (mapping.batchingWindowMs ?? 0);
        records.push(...got.Messages.map((m) => toRecord(m, queueArn)));
      }
      if (records.length === 0) {
        await sleep(100);
        continue;
      }
      const event: SQSEvent = { Records: records };
      const n = invocations++;
      const instance = consumers[i] ?? pool!.take();
      const { handler, retire } = instance;
      let failed = new Set<string>();
      const giveUpAfter = faults.abandonInvocation?.(n);
      const invoked = handler(event, fakeContext(timeoutMs, `consumer-${i}`));
      const res = await (giveUpAfter === undefined ? invoked.then((r) => ({ r })) : Promise.race([invoked.then((r) => ({ r })), sleep(giveUpAfter).then(() => "timeout" as const)])).catch(
        () => ({ r: { batchItemFailures: records.map((x) => ({ itemIdentifier: x.messageId })) } }),
      );
      if (res === "timeout") {
        // Lambda's timeout: the invocation's records all count as failed; the instance is gone.
        retire();
        abandoned.push(invoked.catch(() => undefined));
        if (!pool) consumers[i] = mapping.newInstance();
        failed = new Set(records.map((r) => r.messageId));
      } else {
        failed = new Set((res.r?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        pool?.give(instance);
      }
      // At-least-once: a message processed for the first time is delivered again instead of deleted.
      const again = faults.deliverTwice ? records.filter((r) => !failed.has(r.messageId) && !deliveredOnce.has(r.messageId)) : [];
      for (const r of again) deliveredOnce.add(r.messageId);
      const ok = records.filter((r) => !failed.has(r.messageId) && !again.includes(r));
      const retry = records.filter((r) => failed.has(r.messageId));
      const visibility = [...retry.map((r) => [r, mapping.retryDelaySeconds ?? 1] as const), ...again.map((r) => [r, 0] as const)];
      for (let j = 0; j < visibility.length; j += 10) {
        await sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: visibility.slice(j, j + 10).map(([r, s], k) => ({ Id: String(k), ReceiptHandle: r.receiptHandle, VisibilityTimeout: s })),
          }),
        );
      }
      for (let j = 0; j < ok.length; j += 10) {
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: ok.slice(j, j + 10).map((r, k) => ({ Id: String(k), ReceiptHandle: r.receiptHandle })) }));
      }
      opts.onPoll?.();
    }
  };
  const workers = consumers.map((_, i) => worker(i));
  for (;;) {
    await sleep(200);
    opts.onPoll?.();
    // Cancelled: no new message is taken; the invocations under way finish below (Lambda's would too).
    if (opts.signal?.aborted && !producing) break;
    if (producing) continue;
    const d = await queueDepth(sqs, queueUrl);
    if (d.visible === 0 && d.inFlight === 0) break;
  }
  draining = false;
  await Promise.all(workers);
  await Promise.all(abandoned);
}
