/**
 * Delivery faults through the local pipeline: consumers stopped mid-batch, messages delivered twice, SendMessageBatch
 * failing entries, an extract failing halfway, a malformed message, overlapping runs. Every test ends with the same
 * three checks (test/helpers/reliability.ts); Auth0's faults are in reliability-auth0.test.ts.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { warehouseOf } from "../../functions/core/config.js";
import { RedshiftSource } from "../../functions/adapters/redshift/source.js";
import { createExtractorHandler } from "../../functions/flows/extractor-lambda.js";
import type { OutcomeEvent } from "../../functions/core/outcomes.js";
import { LocalEnvironment, runLocalPipeline } from "../../local/pipeline.js";
import { describeDlqMessages } from "../../cli/dlq.js";
import { tempDir } from "../helpers/tmp.js";
import { writeCsv } from "../helpers/demo-csv.js";
import { configWith, expectConsistent, rowsOf, scenario, tenantOf } from "../helpers/reliability.js";

describe("delivery faults: the sync loses nothing and duplicates nothing", () => {
  it("consumers stop in the middle of a batch as a Lambda timeout would, and SQS delivers the records again", async () => {
    const s = await scenario({ chaos: { abandonInvocation: (n) => (n % 3 === 0 ? 120 : undefined) } });
    expect(s.summary).toMatchObject({ rowsRead: 150, deadLettered: 0 });
    expectConsistent(s.stateDir, s.rows, [s.summary]);
  }, 120_000);

  it("every message is delivered twice", async () => {
    const s = await scenario({ chaos: { deliverTwice: true } });
    expect(s.summary).toMatchObject({ created: 150, deadLettered: 0 });
    expectConsistent(s.stateDir, s.rows, [s.summary]);
  }, 120_000);

  it("SendMessageBatch fails some entries: they are sent again, no row is lost", async () => {
    let failedEntries = 0;
    const failedOnce = new Set<string>();
    const extractorSqs = (sqs: SQSClient): SQSClient =>
      ({
        send: async (cmd: unknown) => {
          if (!(cmd instanceof SendMessageBatchCommand)) return sqs.send(cmd as never);
          const entries = cmd.input.Entries ?? [];
          // Every other entry fails the first time it is seen.
          const fail = entries.filter((e, i) => i % 2 === 1 && !failedOnce.has(e.MessageBody!));
          for (const e of fail) failedOnce.add(e.MessageBody!);
          failedEntries += fail.length;
          const pass = entries.filter((e) => !fail.includes(e));
          const res = pass.length ? await sqs.send(new SendMessageBatchCommand({ QueueUrl: cmd.input.QueueUrl, Entries: pass })) : { Successful: [] };
          return { ...res, Failed: fail.map((e) => ({ Id: e.Id!, SenderFault: false, Code: "InternalError", Message: "injected" })) };
        },
      }) as unknown as SQSClient;
    const s = await scenario({ config: configWith({ auth0: { maxRetries: 2 }, queue: { usersPerMessage: 5 } }), chaos: { extractorSqs } });
    expect(failedEntries).toBeGreaterThan(5);
    expect(s.summary).toMatchObject({ created: 150, deadLettered: 0 });
    expectConsistent(s.stateDir, s.rows, [s.summary]);
  }, 120_000);

  it("the extractor fails halfway: what it sent is applied, the run is failed, and the repeated run completes it", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(150);
    const csv = writeCsv(join(dir, "users.csv"), rows);
    const config = configWith({ source: { pageSize: 20 }, queue: { usersPerMessage: 5 } });
    await expect(runLocalPipeline({ config, stateDir, csv, rate: 300, chaos: { failFromPage: 4 } })).rejects.toThrow(/injected fault/);
    const partial = tenantOf(stateDir).users.length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(150);
    const again = await runLocalPipeline({ config, stateDir, rate: 300 });
    expect(again).toMatchObject({ rowsRead: 150, created: 150 - partial, unchanged: partial });
    expectConsistent(stateDir, rows, [again]);
  }, 120_000);

  it("mirror mode acts only after a complete extract: a failed one blocks and deletes nobody", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    let rows = rowsOf(120);
    const csv = join(dir, "users.csv");
    const config = configWith({ source: { pageSize: 20 }, mirror: { enabled: true, action: "delete", threshold: { maxCount: 1000, maxShare: 0.9 } } });
    const first = await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, rows), rate: 300 });
    rows = rows.filter((_, i) => i % 4 !== 0);
    await expect(runLocalPipeline({ config, stateDir, csv: writeCsv(csv, rows), rate: 300, chaos: { failFromPage: 3 } })).rejects.toThrow(/injected fault/);
    expect(tenantOf(stateDir).users).toHaveLength(120);
    const last = await runLocalPipeline({ config, stateDir, rate: 300 });
    expect(last).toMatchObject({ rowsRead: 90, unchanged: 90, deleted: 30 });
    expectConsistent(stateDir, rows, [first, last]);
  }, 120_000);

  it("a malformed message is reported with its id and reason and ends in the DLQ after maxReceiveCount deliveries", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const config = configWith();
    const env = await LocalEnvironment.start({ config, stateDir, csv: writeCsv(join(dir, "users.csv"), rowsOf(3)), rate: 300 });
    try {
      const sent = await env.sqs.send(new SendMessageCommand({ QueueUrl: env.queueUrl, MessageBody: JSON.stringify({ v: 1, runId: "run-x", ops: [{ kind: "sync" }] }) }));
      const seen: OutcomeEvent[] = [];
      const started = Date.now();
      await env.drain({ onOutcome: (e) => seen.push(e) });
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(seen).toEqual([]);
      const dead = await env.peekDlq();
      expect(dead).toHaveLength(1);
      const [d] = await describeDlqMessages(dead, env.ledgerFor!());
      expect(d!.reasons[0]).toMatch(/^malformed message: ops\.0/);
      expect(sent.MessageId).toBeDefined();
    } finally {
      await env.stop();
    }
  }, 60_000);
});

describe("overlapping runs", () => {
  it("a run started while the previous one drains is skipped; two extracts at once: one runs, one is skipped", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const rows = rowsOf(120);
    const config = configWith({ auth0: { maxRetries: 2 } });
    const env = await LocalEnvironment.start({ config, stateDir, csv: writeCsv(join(dir, "users.csv"), rows), rate: 60 });
    const ctx = { getRemainingTimeInMillis: () => 900_000, functionName: "extractor", awsRequestId: "x" } as unknown as Context;
    const extractor = () =>
      createExtractorHandler(({ logger, metrics }) => ({
        config: env.config,
        source: new RedshiftSource(env.redshiftClient(), warehouseOf(env.config), { minMs: 10, maxMs: 50 }),
        sqs: env.sqs,
        queueUrl: env.queueUrl,
        logger,
        metrics,
        ledger: env.ledgerFor!(),
      }));
    try {
      const outcomes = new Map<string, OutcomeEvent>();
      const record = (e: OutcomeEvent) => void (outcomes.has(e.key) || outcomes.set(e.key, e));
      const a = await extractor()({}, ctx);
      expect(a).toMatchObject({ rowsRead: 120, enqueued: 120 });
      const draining = env.drain({ onOutcome: record });
      await sleep(300);
      const b = await extractor()({}, ctx);
      expect(b.skipped).toMatch(/^the previous run is still draining: \d+ messages in the queue$/);
      expect(b).toMatchObject({ rowsRead: 0, enqueued: 0 });
      await draining;
      expect(outcomes.size).toBe(120);
      expect([...outcomes.values()].every((e) => e.outcome === "created")).toBe(true);

      const [c, d] = await Promise.all([extractor()({}, ctx), extractor()({}, ctx)]);
      const ran = [c, d].filter((r) => !r.skipped);
      const skipped = [c, d].filter((r) => r.skipped);
      expect(ran).toHaveLength(1);
      expect(skipped).toHaveLength(1);
      expect(skipped[0]!.skipped).toMatch(/^another extract \(run-[\w-]+\) is running$/);
      expect(ran[0]).toMatchObject({ rowsRead: 120, unchanged: 120, enqueued: 0 });
      const runs = await env.ledgerFor!().runs.latest();
      expect(runs.map((r) => r.status).sort()).toEqual(["completed", "completed", "skipped", "skipped"]);
      await env.save();
    } finally {
      await env.stop();
    }
    const users = tenantOf(stateDir).users;
    expect(users).toHaveLength(120);
    expect(new Set(users.map((u) => u.email)).size).toBe(120);
  }, 120_000);
});
