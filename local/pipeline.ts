/**
 * The whole pipeline on one machine, with no AWS and (by default) no Auth0: an embedded warehouse (PGlite)
 * behind the Redshift Data API emulator, local-aws-sqs with a queue and DLQ redriving like the deployed ones,
 * and the Auth0 emulator. It invokes the real extractor handler, then polls SQS as Lambda's event source does
 * and invokes the real consumer handler, one handler instance per concurrent consumer.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { createSqsServer } from "local-aws-sqs";
import { Auth0Adapter, auth0OptionsFromConfig, type Auth0Credentials } from "../functions/adapters/auth0/client.js";
import { Pacer } from "../functions/adapters/auth0/pacer.js";
import { opKey, parseMessage } from "../functions/adapters/sqs/message.js";
import { consumerBudget, type SyncConfig } from "../functions/core/config.js";
import { RunAccounting, type OutcomeEvent, type Outcome } from "../functions/core/outcomes.js";
import { rejectionMessage, type RejectCode } from "../functions/core/types.js";
import { createConsumerHandler } from "../functions/consumer/handler.js";
import { createExtractorHandler } from "../functions/extractor/handler.js";
import type { ExtractorResult } from "../functions/extractor/extract.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, type TenantState } from "./auth0-emulator.js";
import { DEMO_ROLES, loadCsv, seedDemo, tableFromSql } from "./demo-data.js";
import { RedshiftDataEmulator } from "./redshift-data-emulator.js";
import { ensureLedgerTable, startDynamo } from "./dynamo.js";
import { Ledger } from "../functions/adapters/ledger/ledger.js";

export interface LocalRunOptions {
  config: SyncConfig;
  /** Where the warehouse and the emulated tenant persist between runs. */
  stateDir: string;
  fresh?: boolean;
  /** Rows generated into the demo warehouse when it is new. */
  seedRows?: number;
  csv?: string;
  /** Emulator faults. */
  failRate?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** Requests per second (and burst) of the emulated tenant and of the sync's budget. */
  rate?: number;
  burst?: number;
  /** A real (or other Auth0-compatible) tenant instead of the emulator. */
  realTenant?: { domain: string; credentials: Auth0Credentials; baseUrl?: string };
  /**
   * Seconds before a failed record is delivered again. Lambda leaves it to the visibility timeout (6 x the
   * function timeout); locally that would make every retry wait minutes, so the poller shortens it.
   */
  retryDelaySeconds?: number;
  onProgress?: (p: Progress) => void;
  /** Extra hook: every recorded outcome. */
  onOutcome?: (e: OutcomeEvent) => void;
  /** Approve a mirror run over the threshold (as the CLI's approval does). */
  approveMirror?: boolean;
  /** Run without the ledger (every row looked up in Auth0), e.g. to compare. */
  noLedger?: boolean;
}

export interface Progress {
  phase: "extract" | "consume" | "done";
  rowsRead: number;
  done: number;
  total: number;
  elapsedMs: number;
}

export interface LocalRunSummary {
  runId: string;
  rowsRead: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  deadLettered: number;
  blocked: number;
  deleted: number;
  /** Mirror mode held the run: absent managed users over the threshold, nothing blocked or deleted. */
  held: boolean;
  heldReason?: string;
  unaccounted: number;
  auth0Calls: number;
  auth0Status429: number;
  elapsedMs: number;
  topReasons: { code: RejectCode; count: number }[];
  /** Every rejection, with the row, key and field it names. */
  rejections: string[];
  sqsRequests: number;
  consumerInstances: number;
}

const FAKE_AWS = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function fakeContext(timeoutMs: number, name: string): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB: "512",
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
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

/** Runs one sync locally and returns its summary. */
export async function runLocalPipeline(opts: LocalRunOptions): Promise<LocalRunSummary> {
  const started = Date.now();
  const cfg = opts.config;
  if (opts.fresh) rmSync(opts.stateDir, { recursive: true, force: true });
  mkdirSync(opts.stateDir, { recursive: true });
  const tenantFile = join(opts.stateDir, "tenant.json");
  const warehouseDir = join(opts.stateDir, "warehouse");
  const rate = opts.rate ?? cfg.auth0.rateLimit.requestsPerSecond;
  const burst = opts.burst ?? Math.max(cfg.auth0.rateLimit.burst, Math.ceil(rate));
  const config: SyncConfig = { ...cfg, auth0: { ...cfg.auth0, rateLimit: { requestsPerSecond: rate, burst } } };

  const cleanups: (() => Promise<void>)[] = [];
  try {
    // ---- warehouse ----
    const isNew = !existsSync(warehouseDir);
    const db = new PGlite(warehouseDir);
    cleanups.push(() => db.close());
    await db.waitReady;
    if (opts.csv) {
      await loadCsv(db, tableFromSql(config.source.sql), readFileSync(opts.csv, "utf8"));
    } else if (isNew) {
      await seedDemo(db, opts.seedRows ?? 2000);
    }
    const redshift = new RedshiftDataEmulator({ db, pageSize: config.source.pageSize });
    const redshiftEndpoint = await redshift.start();
    cleanups.push(() => redshift.stop());

    // ---- queues ----
    const sqsServer: Server = await createSqsServer({ port: 0, hostname: "127.0.0.1" });
    cleanups.push(() => new Promise<void>((r) => (sqsServer.closeAllConnections(), sqsServer.close(() => r()))));
    const sqsEndpoint = `http://127.0.0.1:${(sqsServer.address() as AddressInfo).port}`;
    const sqs = new SQSClient({ ...FAKE_AWS, endpoint: sqsEndpoint });
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${config.name}-dlq`, Attributes: { MessageRetentionPeriod: String(14 * 86400) } }))).QueueUrl!;
    const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    const queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `${config.name}-queue`,
          Attributes: {
            VisibilityTimeout: String(6 * config.queue.consumerTimeoutSeconds),
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: config.queue.maxReceiveCount }),
          },
        }),
      )
    ).QueueUrl!;
    const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;

    // ---- Auth0 ----
    let emulator: Auth0Emulator | undefined;
    let auth0Target: { domain: string; baseUrl?: string; credentials: Auth0Credentials };
    if (opts.realTenant) {
      auth0Target = opts.realTenant;
    } else {
      emulator = new Auth0Emulator({
        rate,
        burst,
        roles: DEMO_ROLES,
        connections: [{ name: config.auth0.connection, strategy: config.auth0.connectionType === "database" ? "auth0" : "email" }],
        faults: { failRate: opts.failRate ?? 0, latencyMs: opts.latencyMs ?? 0, jitterMs: opts.jitterMs ?? 0 },
      });
      if (existsSync(tenantFile)) emulator.load(JSON.parse(readFileSync(tenantFile, "utf8")) as TenantState);
      for (const r of DEMO_ROLES) emulator.addRole(r);
      const baseUrl = await emulator.start();
      cleanups.push(() => emulator!.stop());
      auth0Target = { domain: emulator.domain, baseUrl, credentials: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } };
    }
    const runConfig: SyncConfig = { ...config, auth0: { ...config.auth0, domain: auth0Target.domain, baseUrl: auth0Target.baseUrl } };

    // ---- ledger ----
    let ledgerFor: (() => Ledger) | undefined;
    if (!opts.noLedger) {
      const dynamo = await startDynamo(join(opts.stateDir, "ledger"));
      cleanups.push(() => dynamo.stop());
      const tableName = `auth0-sync-${config.name}-ledger`;
      await ensureLedgerTable(dynamo.client, tableName);
      ledgerFor = () => new Ledger(dynamo.client, tableName);
    }

    // ---- outcomes: the first final outcome of each key wins (a redelivered user is not counted twice) ----
    const outcomes = new Map<string, OutcomeEvent>();
    const record = (e: OutcomeEvent) => {
      if (!outcomes.has(e.key)) {
        outcomes.set(e.key, e);
        opts.onOutcome?.(e);
      }
    };

    // ---- extract ----
    let rowsRead = 0;
    const progress = (phase: Progress["phase"], done: number, total: number) =>
      opts.onProgress?.({ phase, rowsRead, done, total, elapsedMs: Date.now() - started });
    const extractor = createExtractorHandler(({ logger, metrics }) => ({
      config: runConfig,
      redshift: new RedshiftDataClient({ ...FAKE_AWS, endpoint: redshiftEndpoint }),
      sqs,
      queueUrl,
      logger,
      metrics,
      poll: { minMs: 10, maxMs: 200 },
      ledger: ledgerFor?.(),
      onOutcome: record,
      onProgress: (p) => {
        rowsRead = p.rowsRead;
        progress("extract", outcomes.size, p.rowsRead);
      },
    }));
    const extracted = (await extractor({ approveMirror: opts.approveMirror }, fakeContext(15 * 60_000, "extractor"))) as ExtractorResult;
    rowsRead = extracted.rowsRead;
    redshift.forget();

    // ---- consume, as Lambda's SQS event source would ----
    const share = consumerBudget(runConfig);
    const adapters: Auth0Adapter[] = [];
    const timeoutMs = config.queue.consumerTimeoutSeconds * 1000;
    const consumers = Array.from({ length: share.maxConcurrency }, () =>
      createConsumerHandler(({ logger }) => {
        const pacer = new Pacer({ rate: share.rps, burst: share.burst });
        const auth0 = new Auth0Adapter({ ...auth0OptionsFromConfig(runConfig, auth0Target.credentials, {}, pacer), baseUrl: auth0Target.baseUrl });
        adapters.push(auth0);
        return { config: runConfig, auth0, logger, ledger: ledgerFor?.(), onOutcome: record };
      }),
    );
    const maxPerReceive = Math.min(10, config.queue.batchSize);
    let draining = true;
    const worker = async (i: number) => {
      const handler = consumers[i]!;
      while (draining) {
        const records: SQSRecord[] = [];
        while (records.length < config.queue.batchSize) {
          const got = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: Math.min(maxPerReceive, config.queue.batchSize - records.length), WaitTimeSeconds: 0, AttributeNames: ["All"] }),
          );
          if (!got.Messages?.length) break;
          records.push(...got.Messages.map((m) => toRecord(m, queueArn)));
        }
        if (records.length === 0) {
          await sleep(100);
          continue;
        }
        const event: SQSEvent = { Records: records };
        let failed = new Set<string>();
        try {
          const res = await handler(event, fakeContext(timeoutMs, `consumer-${i}`));
          failed = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        } catch {
          failed = new Set(records.map((r) => r.messageId));
        }
        const ok = records.filter((r) => !failed.has(r.messageId));
        const retry = records.filter((r) => failed.has(r.messageId));
        for (let j = 0; j < retry.length; j += 10) {
          await sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: retry.slice(j, j + 10).map((r, k) => ({ Id: String(k), ReceiptHandle: r.receiptHandle, VisibilityTimeout: opts.retryDelaySeconds ?? 1 })),
            }),
          );
        }
        for (let j = 0; j < ok.length; j += 10) {
          await sqs.send(
            new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: ok.slice(j, j + 10).map((r, k) => ({ Id: String(k), ReceiptHandle: r.receiptHandle })) }),
          );
        }
        progress("consume", outcomes.size, rowsRead);
      }
    };
    const workers = consumers.map((_, i) => worker(i));
    // Drained when nothing is visible or in flight on the main queue.
    for (;;) {
      await sleep(200);
      const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] })))
        .Attributes!;
      progress("consume", outcomes.size, rowsRead);
      if (Number(a.ApproximateNumberOfMessages) === 0 && Number(a.ApproximateNumberOfMessagesNotVisible) === 0) break;
    }
    draining = false;
    await Promise.all(workers);

    // ---- what ended in the DLQ (read, not consumed: it stays there for redrive) ----
    const dead = new Set<string>();
    for (;;) {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30 }));
      if (!got.Messages?.length) break;
      for (const m of got.Messages) {
        const parsed = parseMessage(m.Body);
        if (parsed.ok) for (const op of parsed.message.ops) if (!outcomes.has(opKey(op))) dead.add(opKey(op));
      }
    }
    for (const key of dead) record({ runId: extracted.runId, key, outcome: "deadLettered" });

    // ---- figures ----
    const acc = new RunAccounting();
    acc.read(rowsRead);
    if (extracted.mirror && !extracted.mirror.held) acc.addAbsent(extracted.mirror.absent);
    for (const e of outcomes.values()) acc.record(e.outcome, { code: e.rejection?.code });
    const snap = acc.snapshot();
    if (emulator) writeFileSync(tenantFile, JSON.stringify(emulator.state()));
    progress("done", outcomes.size, rowsRead);
    const count = (o: Outcome) => snap[o];
    return {
      runId: extracted.runId,
      rowsRead,
      created: count("created"),
      updated: count("updated"),
      unchanged: count("unchanged"),
      rejected: count("rejected"),
      deadLettered: count("deadLettered"),
      blocked: count("blocked"),
      deleted: count("deleted"),
      held: extracted.mirror?.held ?? false,
      heldReason: extracted.mirror?.heldReason,
      unaccounted: snap.unaccounted,
      auth0Calls: adapters.reduce((s, a) => s + a.stats.calls, 0),
      auth0Status429: adapters.reduce((s, a) => s + a.stats.status429, 0),
      elapsedMs: Date.now() - started,
      topReasons: acc.topReasons(5).map(([code, n]) => ({ code, count: n })),
      rejections: [...outcomes.values()]
        .filter((e) => e.outcome === "rejected" && e.rejection)
        .sort((a, b) => (a.row ?? 0) - (b.row ?? 0))
        .map((e) => rejectionMessage(e.rejection!)),
      sqsRequests: extracted.sqsRequests,
      consumerInstances: share.maxConcurrency,
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

