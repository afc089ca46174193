import { getEventListeners } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient, StartMessageMoveTaskCommand } from "@aws-sdk/client-sqs";
import { createSqsServer } from "local-aws-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queueDepth, redrive, RedriveError, type RedriveProgress } from "../../functions/adapters/sqs/redrive.js";

let server: Server;
let sqs: SQSClient;
let n = 0;

beforeAll(async () => {
  server = await createSqsServer({ port: 0, hostname: "127.0.0.1" });
  sqs = new SQSClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function queues(messagesInDlq: number) {
  const id = ++n;
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `dlq-${id}` }))).QueueUrl!;
  const arn = async (url: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  const dlqArn = await arn(dlqUrl);
  const queueUrl = (
    await sqs.send(new CreateQueueCommand({ QueueName: `main-${id}`, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) } }))
  ).QueueUrl!;
  for (let i = 0; i < messagesInDlq; i += 10) {
    const entries = Array.from({ length: Math.min(10, messagesInDlq - i) }, (_, k) => ({ Id: String(k), MessageBody: JSON.stringify({ n: i + k }) }));
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: dlqUrl, Entries: entries }));
  }
  return { dlqUrl, dlqArn, queueUrl, queueArn: await arn(queueUrl) };
}

describe("redrive with message move tasks (local-aws-sqs)", () => {
  it("moves every DLQ message back to the main queue, reporting progress until done", async () => {
    const q = await queues(25);
    const seen: RedriveProgress[] = [];
    const done = await redrive(sqs, { ...q, ratePerSecond: 50, pollMs: 50, onProgress: (p) => seen.push(p) });
    expect(done.status).toBe("COMPLETED");
    expect(done.moved).toBe(25);
    expect(seen.at(-1)).toEqual(done);
    expect((await queueDepth(sqs, q.queueUrl)).visible).toBe(25);
    expect((await queueDepth(sqs, q.dlqUrl)).visible).toBe(0);
  });

  it("refuses clearly when there is nothing to move, when a task already runs, or with a bad rate", async () => {
    const empty = await queues(0);
    await expect(redrive(sqs, empty)).rejects.toThrow(new RedriveError("The DLQ has no messages to move"));
    const busy = await queues(30);
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: busy.dlqArn, DestinationArn: busy.queueArn, MaxNumberOfMessagesPerSecond: 1 }));
    await expect(redrive(sqs, busy)).rejects.toThrow(/^A redrive of this DLQ is already running \(\d+ of \d+ moved\); wait for it or cancel it first$/);
    await expect(redrive(sqs, { ...busy, ratePerSecond: 501 })).rejects.toThrow("The rate must be a whole number of messages per second from 1 to 500, got 501");
  });

  it("cancels the task cleanly when interrupted, leaving the rest in the DLQ", async () => {
    const q = await queues(40);
    const ac = new AbortController();
    const done = await redrive(sqs, { ...q, ratePerSecond: 2, pollMs: 100, signal: ac.signal, onProgress: (p) => p.status === "RUNNING" && ac.abort() });
    expect(done.status).toBe("CANCELLED");
    const left = (await queueDepth(sqs, q.dlqUrl)).visible;
    expect(left).toBeGreaterThan(0);
    expect(left + (await queueDepth(sqs, q.queueUrl)).visible).toBe(40);
  });

  it("a long redrive adds no abort listener per poll (no MaxListenersExceeded warning)", async () => {
    const q = await queues(10);
    const ac = new AbortController();
    let polls = 0;
    let most = 0;
    const done = await redrive(sqs, {
      ...q,
      ratePerSecond: 10,
      pollMs: 5,
      signal: ac.signal,
      onProgress: () => {
        polls++;
        most = Math.max(most, getEventListeners(ac.signal, "abort").length);
      },
    });
    expect(done.status).toBe("COMPLETED");
    expect(polls).toBeGreaterThan(20);
    expect(most).toBe(0);
  });
});
