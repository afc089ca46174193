import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { parseMessage, type SyncOperation } from "../../functions/adapters/sqs/message.js";
import { MAX_BATCH_BYTES, QueueSendError, QueueSender, batches, packMessages } from "../../functions/adapters/sqs/sender.js";

const op = (i: number, pad = 0): SyncOperation => ({
  kind: "sync",
  row: i,
  keyLabel: `k${i}`,
  fingerprint: `fp${i}`,
  desired: { key: `k${i}`, email: `u${i}@example.com`, fields: { given_name: "x".repeat(pad) }, user_metadata: {}, app_metadata: { sync_key: `k${i}` }, createOnly: [] },
});

describe("message packing", () => {
  it("puts many users in a message, bounded by the count", () => {
    const msgs = packMessages("run-1", Array.from({ length: 120 }, (_, i) => op(i + 1)), 50);
    expect(msgs.map((m) => m.count)).toEqual([50, 50, 20]);
    const all = msgs.flatMap((m) => {
      const p = parseMessage(m.body);
      if (!p.ok) throw new Error(p.reason);
      return p.message.ops.map((o) => (o.kind === "sync" ? o.row : 0));
    });
    expect(all).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  });

  it("stays under the size bound however large the users are", () => {
    const ops = Array.from({ length: 60 }, (_, i) => op(i + 1, 3000));
    const bound = 16 * 1024;
    const msgs = packMessages("run-1", ops, 50, bound);
    for (const m of msgs) expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(bound);
    // Each op is ~3.2 KB, so at most 5 fit.
    expect(Math.max(...msgs.map((m) => m.count))).toBe(5);
    expect(msgs.reduce((s, m) => s + m.count, 0)).toBe(60);
    expect(() => packMessages("run-1", [op(1, 20_000)], 50, bound)).toThrow(/^one operation \(row 1\) is \d+ bytes, over the 16384-byte message bound$/);
  });

  it("groups SendMessageBatch calls by 10 entries and by size", () => {
    expect(batches(Array.from({ length: 25 }, () => "x")).map((b) => b.length)).toEqual([10, 10, 5]);
    const big = "y".repeat(60 * 1024);
    const groups = batches(Array.from({ length: 9 }, () => big));
    for (const g of groups) expect(g.reduce((s, b) => s + b.length, 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(groups.map((g) => g.length)).toEqual([4, 4, 1]);
  });
});

describe("queue sender", () => {
  it("retries the entries SendMessageBatch reports as failed, and only those", async () => {
    const mock = mockClient(SQSClient);
    mock
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [{ Id: "m1", Code: "InternalError", SenderFault: false }, { Id: "m3", Code: "ServiceUnavailable", SenderFault: false }] })
      .resolves({ Successful: [], Failed: [] });
    const sender = new QueueSender(new SQSClient({ region: "us-east-1" }), "https://sqs.local/q", { baseDelayMs: 1 });
    await sender.send(["a", "b", "c", "d"]);
    const calls = mock.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.Entries!.map((e) => e.MessageBody)).toEqual(["b", "d"]);
    expect(sender.stats).toEqual({ messages: 4, requests: 2, retriedEntries: 2 });
    mock.restore();
  });

  it("gives up with a retryable error when entries keep failing, and at once on a sender fault", async () => {
    const mock = mockClient(SQSClient);
    mock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: "m0", Code: "InternalError", SenderFault: false }] });
    const sender = new QueueSender(new SQSClient({ region: "us-east-1" }), "https://sqs.local/q", { baseDelayMs: 1, maxAttempts: 3 });
    await expect(sender.send(["a"])).rejects.toThrow(new QueueSendError("SQS did not accept 1 message(s) after 3 attempts", 1));
    mock.reset();
    mock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: "m1", Code: "InvalidMessageContents", SenderFault: true, Message: "bad" }] });
    await expect(sender.send(["b"])).rejects.toThrow(/refused 1 message\(s\) as malformed: InvalidMessageContents bad/);
    expect(mock.commandCalls(SendMessageBatchCommand)).toHaveLength(1);
    mock.restore();
  });
});

describe("received messages", () => {
  it("are validated, and a malformed one gets a reason without its content", () => {
    expect(parseMessage("not json")).toEqual({ ok: false, reason: "body is not JSON" });
    expect(parseMessage(JSON.stringify({ v: 2, runId: "r", ops: [op(1)] }))).toEqual({ ok: false, reason: "v: Invalid input: expected 1" });
    const bad = parseMessage(JSON.stringify({ v: 1, runId: "r", ops: [{ ...op(1), desired: { ...op(1).desired, email: 5 } }] }));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.reason).toMatch(/^ops\.0\.desired\.email: /);
    expect(parseMessage(JSON.stringify({ v: 1, runId: "r", ops: [] })).ok).toBe(false);
  });
});
