/**
 * Moving dead-lettered messages back to the main queue with SQS's message move tasks: one task per queue at a
 * time, a chosen rate (at most 500 messages/s), progress from ListMessageMoveTasks, and a clean cancel.
 * Redriven messages get new message ids; the sync's idempotency rests on business keys (the ledger), not ids.
 */
import {
  CancelMessageMoveTaskCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  StartMessageMoveTaskCommand,
  type ListMessageMoveTasksResultEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { setTimeout as delay } from "node:timers/promises";

export class RedriveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedriveError";
  }
}

export interface RedriveProgress {
  status: string;
  moved: number;
  toMove?: number;
  failureReason?: string;
}


export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number; oldestAgeSeconds?: number }> {
  const a = (
    await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
    )
  ).Attributes ?? {};
  return { visible: Number(a.ApproximateNumberOfMessages ?? 0), inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) };
}

/** The move task running on the DLQ, if any. */
export async function runningMoveTask(sqs: SQSClient, dlqArn: string): Promise<ListMessageMoveTasksResultEntry | undefined> {
  const res = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn, MaxResults: 10 }));
  return (res.Results ?? []).find((t) => t.Status === "RUNNING");
}

/**
 * Starts moving the DLQ's messages back to the main queue and follows the task until it ends. Refuses when a
 * task is already running or when there is nothing to move; cancels the task when `signal` aborts (Ctrl-C).
 */
export async function redrive(
  sqs: SQSClient,
  opts: {
    dlqUrl: string;
    dlqArn: string;
    queueArn: string;
    ratePerSecond?: number;
    pollMs?: number;
    signal?: AbortSignal;
    onProgress?: (p: RedriveProgress) => void;
  },
): Promise<RedriveProgress> {
  const rate = opts.ratePerSecond;
  if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 500)) {
    throw new RedriveError(`The rate must be a whole number of messages per second from 1 to 500, got ${rate}`);
  }
  const running = await runningMoveTask(sqs, opts.dlqArn);
  if (running) {
    throw new RedriveError(`A redrive of this DLQ is already running (${running.ApproximateNumberOfMessagesMoved ?? 0} of ${running.ApproximateNumberOfMessagesToMove ?? "?"} moved); wait for it or cancel it first`);
  }
  const { visible } = await queueDepth(sqs, opts.dlqUrl);
  if (visible === 0) throw new RedriveError("The DLQ has no messages to move");
  const started = await sqs.send(
    new StartMessageMoveTaskCommand({ SourceArn: opts.dlqArn, DestinationArn: opts.queueArn, MaxNumberOfMessagesPerSecond: rate }),
  );
  const handle = started.TaskHandle;
  for (;;) {
    if (opts.signal?.aborted && handle) {
      const c = await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: handle }));
      const p = { status: "CANCELLED", moved: c.ApproximateNumberOfMessagesMoved ?? 0 };
      opts.onProgress?.(p);
      return p;
    }
    const tasks = (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: opts.dlqArn, MaxResults: 10 }))).Results ?? [];
    const task = tasks.find((t) => t.TaskHandle === handle) ?? tasks[0];
    const p: RedriveProgress = {
      status: task?.Status ?? "UNKNOWN",
      moved: task?.ApproximateNumberOfMessagesMoved ?? 0,
      toMove: task?.ApproximateNumberOfMessagesToMove,
      failureReason: task?.FailureReason,
    };
    opts.onProgress?.(p);
    if (p.status !== "RUNNING") {
      if (p.status === "FAILED") throw new RedriveError(`The redrive failed: ${p.failureReason ?? "no reason given"}`);
      return p;
    }
    // Node's timer removes its abort listener when it fires (a hand-made one added a listener per poll); an abort
    // ends the wait early and the loop cancels the task.
    // (Without a task handle there is nothing to cancel: the wait is not cut short, so the loop cannot spin.)
    await delay(opts.pollMs ?? 1000, undefined, { signal: handle ? opts.signal : undefined }).catch(() => undefined);
  }
}
