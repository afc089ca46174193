/**
 * The whole pipeline on one machine, with no AWS and (by default) no Auth0: an embedded warehouse (PGlite)
 * behind the Redshift Data API emulator, local-aws-sqs with a queue and DLQ redriving like the deployed ones,
 * and the Auth0 emulator. It invokes the real extractor handler, then polls SQS as Lambda's event source does
 * and invokes the real consumer handler, one handler instance per concurrent consumer.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from "node:fs";
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
  SendMessageBatchCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { createSqsServer } from "local-aws-sqs";
import { Auth0Adapter, auth0OptionsFromConfig, type Auth0Credentials } from "../functions/adapters/auth0/client.js";
import { Pacer } from "../functions/adapters/auth0/pacer.js";
import { RedshiftSource } from "../functions/adapters/redshift/source.js";
import { opKey, parseMessage } from "../functions/adapters/sqs/message.js";
import { consumerBudget, type SyncConfig } from "../functions/core/config.js";
import { RunAccounting, type OutcomeEvent, type Outcome } from "../functions/core/outcomes.js";
import { rejectionMessage, type RejectCode } from "../functions/core/types.js";
import { createConsumerHandler } from "../functions/consumer/handler.js";
import { createExtractorHandler } from "../functions/extractor/handler.js";
import { RunCancelledError, type ExtractorResult } from "../functions/extractor/extract.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, TenantFileError } from "./auth0-emulator.js";
import { DEMO_ROLES, loadCsvChecked, seedDemo, tableFromSql } from "./demo-data.js";
import { RedshiftDataEmulator, bindNamedParameters } from "./redshift-data-emulator.js";
import { ensureLedgerTable, startDynamo } from "./dynamo.js";
import { recordCalls, type AwsCall, type LambdaName } from "./aws-calls.js";
import { LocalStateError, clearStateDir, lockStateDir, markWarehouseReady, readStateFile, warehouseReady } from "./state-dir.js";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Ledger } from "../functions/adapters/ledger/ledger.js";

export interface LocalEnvironmentOptions {
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
  /** Run without the ledger (every row looked up in Auth0), e.g. to compare. */
  noLedger?: boolean;
  /** Fault injection for the reliability suite (test/e2e/reliability.test.ts). */
  chaos?: Chaos;
  /** Every AWS SDK command the handlers send is appended here (the IAM coverage test checks them). */
  awsCalls?: AwsCall[];
}

export interface Chaos {
  /**
   * Milliseconds after which consumer invocation n (0-based, in start order) is given up as a Lambda timeout
   * would: its records are not deleted (SQS delivers them again), its instance is replaced by a fresh one, and
   * whatever it still does lands (in Auth0, in the ledger) but is not reported.
   */
  abandonInvocation?: (n: number) => number | undefined;
  /** Every message is delivered twice (SQS is at-least-once). */
  deliverTwice?: boolean;
  /** Wraps the SQS client the extractor sends with (e.g. to fail some SendMessageBatch entries). */
  extractorSqs?: (sqs: SQSClient) => SQSClient;
  /** The warehouse read fails from this page on: the extract fails halfway. */
  failFromPage?: number;
}

export interface LocalRunOptions extends LocalEnvironmentOptions {
  onProgress?: (p: Progress) => void;
  /** Extra hook: every recorded outcome. */
  onOutcome?: (e: OutcomeEvent) => void;
  /** Approve a mirror run over the threshold (as the CLI's approval does). */
  approveMirror?: boolean;
  /** Called once the stand-ins run, before the extract starts (the bench reads the emulator's request log through it). */
  onEnvironment?: (env: LocalEnvironment) => void | Promise<void>;
  /** Ctrl-C: the extract stops after its current page and the consumers take no new message; the state stays whole. */
  signal?: AbortSignal;
  /** How the extractor finds unchanged rows (see `chooseUnchangedCheck`); dynalite's ItemCount of 0 always picks the Scan. */
  unchangedCheck?: "auto" | "scan" | "lookup";
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
  /** The run did not start, and why (another extract running, or the previous run still draining). */
  skipped?: string;
  /**
   * Stopped on purpose (`signal`): no new work was taken, what was under way finished; the users without an outcome
   * (`unaccounted`) were not applied and go with the next run.
   */
  cancelled: boolean;
  /** Mirror mode held the run: absent managed users over the threshold, nothing blocked or deleted. */
  held: boolean;
  heldReason?: string;
  unaccounted: number;
  auth0Calls: number;
  auth0Status429: number;
  /** From the start of the local stand-ins (warehouse, ledger and tenant loaded) to their state saved. */
  elapsedMs: number;
  /** The sync itself: from the extractor's start to the last user's outcome (what a run takes in AWS). */
  syncMs: number;
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

/** A message read from the local DLQ without consuming it. */
export interface PeekedMessage {
  messageId: string;
  body: string;
  sentAt?: number;
}

const SENT_AT = "auth0sync-first-sent-at";

interface SavedMessage {
  body: string;
  sentAt?: number;
}

const isTenantState = (v: unknown): v is { users: unknown[] } => v !== null && typeof v === "object" && Array.isArray((v as { users?: unknown }).users);

const isSavedMessages = (v: unknown): v is SavedMessage[] =>
  Array.isArray(v) && v.every((m) => m !== null && typeof m === "object" && typeof (m as SavedMessage).body === "string");

/**
 * The local stand-ins of one sync, started together on 127.0.0.1: the warehouse behind the Data API emulator,
 * the queue and its DLQ (the DLQ's messages persist between runs, so `status` and `redrive` have something to
 * show), the Auth0 emulator or a real tenant, and the ledger. `runLocalPipeline`, `npm start` and the CLI's
 * `--local` all act through it.
 */
export class LocalEnvironment {
  readonly cleanups: (() => Promise<void>)[] = [];
  config!: SyncConfig;
  sqs!: SQSClient;
  queueUrl!: string;
  queueArn!: string;
  dlqUrl!: string;
  dlqArn!: string;
  redshiftEndpoint!: string;
  redshiftEmulator!: RedshiftDataEmulator;
  emulator?: Auth0Emulator;
  auth0Target!: { domain: string; baseUrl?: string; credentials: Auth0Credentials };
  /** The ledger as one Lambda reaches it (its calls recorded when `awsCalls` is set), or as the operator does. */
  ledgerFor?: (fn?: LambdaName) => Ledger;
  private sqsEndpoint!: string;
  private readonly handlerClients = new Map<string, unknown>();
  readonly tenantFile: string;
  readonly dlqFile: string;

  private constructor(readonly opts: LocalEnvironmentOptions) {
    this.tenantFile = join(opts.stateDir, "tenant.json");
    this.dlqFile = join(opts.stateDir, "dlq.json");
  }

  static async start(opts: LocalEnvironmentOptions): Promise<LocalEnvironment> {
    const env = new LocalEnvironment(opts);
    try {
      await env.init();
      return env;
    } catch (err) {
      await env.stop();
      throw err;
    }
  }

  /** A state directory the local pipeline has run in. */
  static exists(stateDir: string): boolean {
    return existsSync(join(stateDir, "warehouse"));
  }

  private async init(): Promise<void> {
    const opts = this.opts;
    const cfg = opts.config;
    // Inputs and state are checked before anything changes; each refusal is one sentence (LocalStateError).
    if (opts.csv && !existsSync(opts.csv)) throw new LocalStateError(`The CSV file ${opts.csv} does not exist; nothing was changed.`);
    mkdirSync(opts.stateDir, { recursive: true });
    // One process at a time: two on one directory would mix their state (and PGlite refuses a second opener).
    const release = lockStateDir(opts.stateDir);
    this.cleanups.push(async () => release());
    if (opts.fresh) clearStateDir(opts.stateDir);
    const warehouseDir = join(opts.stateDir, "warehouse");
    const isNew = !existsSync(warehouseDir);
    if (!isNew && !warehouseReady(opts.stateDir)) {
      // (A state directory from before the marker that completed a run has a tenant file: it is whole.)
      if (existsSync(this.tenantFile)) markWarehouseReady(opts.stateDir, "seeded before this marker existed");
      else throw new LocalStateError(`The warehouse in ${warehouseDir} was not seeded to the end (a first run stopped while seeding?): start over with --fresh.`);
    }
    if (opts.seedRows !== undefined && !isNew && !opts.csv) {
      throw new LocalStateError(`--rows ${opts.seedRows} seeds a new warehouse, but ${opts.stateDir} already has one: add --fresh to start over with ${opts.seedRows} rows, or leave --rows out.`);
    }
    const savedDlq = existsSync(this.dlqFile) ? readStateFile(this.dlqFile, "local DLQ file", isSavedMessages) : [];
    // The tenant file is read (and its journal replayed) by the emulator below; a damaged one is refused here,
    // before the warehouse step can change anything.
    if (existsSync(this.tenantFile)) readStateFile(this.tenantFile, "local tenant file", isTenantState);
    const rate = opts.rate ?? cfg.auth0.rateLimit.requestsPerSecond;
    const burst = opts.burst ?? Math.max(cfg.auth0.rateLimit.burst, Math.ceil(rate));
    const config: SyncConfig = { ...cfg, auth0: { ...cfg.auth0, rateLimit: { requestsPerSecond: rate, burst } } };

    // ---- warehouse ----
    const db = new PGlite(warehouseDir);
    this.cleanups.push(() => db.close());
    await db.waitReady;
    if (opts.csv) {
      const params = Object.entries(config.source.parameters ?? {}).map(([name, value]) => ({ name, value }));
      const rows = await loadCsvChecked(db, tableFromSql(config.source.sql), readFileSync(opts.csv, "utf8"), opts.csv, bindNamedParameters(config.source.sql, params)).catch((err: unknown) => {
        throw new LocalStateError((err as Error).message);
      });
      markWarehouseReady(opts.stateDir, `${rows} rows from ${opts.csv}`);
    } else if (isNew) {
      await seedDemo(db, opts.seedRows ?? 2000);
      markWarehouseReady(opts.stateDir, `${opts.seedRows ?? 2000} demo rows`);
    }
    this.redshiftEmulator = new RedshiftDataEmulator({ db, pageSize: config.source.pageSize, failFromPage: opts.chaos?.failFromPage });
    this.redshiftEndpoint = await this.redshiftEmulator.start();
    this.cleanups.push(() => this.redshiftEmulator.stop());

    // ---- queues ----
    const sqsServer: Server = await createSqsServer({ port: 0, hostname: "127.0.0.1" });
    this.cleanups.push(() => new Promise<void>((r) => (sqsServer.closeAllConnections(), sqsServer.close(() => r()))));
    const sqsEndpoint = `http://127.0.0.1:${(sqsServer.address() as AddressInfo).port}`;
    this.sqsEndpoint = sqsEndpoint;
    const sqs = new SQSClient({ ...FAKE_AWS, endpoint: sqsEndpoint });
    this.sqs = sqs;
    this.dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${config.name}-dlq`, Attributes: { MessageRetentionPeriod: String(14 * 86400) } }))).QueueUrl!;
    this.dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.dlqUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    this.queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `${config.name}-queue`,
          Attributes: {
            VisibilityTimeout: String(6 * config.queue.consumerTimeoutSeconds),
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.dlqArn, maxReceiveCount: config.queue.maxReceiveCount }),
          },
        }),
      )
    ).QueueUrl!;
    this.queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    // The DLQ outlives runs: its saved messages are sent back to the fresh local DLQ.
    for (let i = 0; i < savedDlq.length; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.dlqUrl,
          // Re-sent messages get a new SentTimestamp: the first one travels as an attribute.
          Entries: savedDlq.slice(i, i + 10).map((m, k) => ({
            Id: String(k),
            MessageBody: m.body,
            MessageAttributes: m.sentAt ? { [SENT_AT]: { DataType: "Number", StringValue: String(m.sentAt) } } : undefined,
          })),
        }),
      );
    }

    // ---- Auth0 ----
    if (opts.realTenant) {
      this.auth0Target = opts.realTenant;
    } else {
      const emulator = new Auth0Emulator({
        rate,
        burst,
        roles: DEMO_ROLES,
        connections: [{ name: config.auth0.connection, strategy: config.auth0.connectionType === "database" ? "auth0" : "email" }],
        faults: { failRate: opts.failRate ?? 0, latencyMs: opts.latencyMs ?? 0, jitterMs: opts.jitterMs ?? 0 },
      });
      // The tenant persists in tenant.json, and every write it acknowledges in tenant.journal before its answer.
      try {
        emulator.persistTo(this.tenantFile);
      } catch (err) {
        if (err instanceof TenantFileError) throw new LocalStateError(`${err.message}: restore it, delete it to lose what it holds, or start over with --fresh.`);
        throw err;
      }
      for (const r of DEMO_ROLES) emulator.addRole(r);
      const baseUrl = await emulator.start();
      this.cleanups.push(() => emulator.stop());
      this.emulator = emulator;
      this.auth0Target = { domain: emulator.domain, baseUrl, credentials: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET } };
    }
    this.config = { ...config, auth0: { ...config.auth0, domain: this.auth0Target.domain, baseUrl: this.auth0Target.baseUrl } };

    // ---- ledger ----
    if (!opts.noLedger) {
      const dynamo = await startDynamo(join(opts.stateDir, "ledger"));
      this.cleanups.push(() => dynamo.stop());
      const tableName = `auth0-sync-${config.name}-ledger`;
      await ensureLedgerTable(dynamo.client, tableName);
      this.ledgerFor = (fn) => new Ledger(fn ? this.handlerClient(fn, "dynamodb", () => new DynamoDBClient({ ...FAKE_AWS, endpoint: dynamo.endpoint })) : dynamo.client, tableName);
      // A local run stopped with Ctrl-C leaves its lock behind; no other process can have this directory open.
      await this.ledgerFor().breakRunLock();
    }
  }

  redshiftClient(fn?: LambdaName): RedshiftDataClient {
    const make = () => new RedshiftDataClient({ ...FAKE_AWS, endpoint: this.redshiftEndpoint });
    return fn ? this.handlerClient(fn, "redshift", make) : make();
  }

  /** The SQS client a Lambda sends with: its own, apart from the one that plays Lambda's event source. */
  handlerSqs(fn: LambdaName): SQSClient {
    return this.handlerClient(fn, "sqs", () => new SQSClient({ ...FAKE_AWS, endpoint: this.sqsEndpoint }));
  }

  /** One client per Lambda and service, recording its calls when `awsCalls` is set. */
  private handlerClient<C extends { middlewareStack: { add: unknown } }>(fn: LambdaName, service: string, make: () => C): C {
    const id = `${fn}/${service}`;
    let client = this.handlerClients.get(id) as C | undefined;
    if (!client) {
      client = this.opts.awsCalls ? recordCalls(make(), fn, this.opts.awsCalls) : make();
      this.handlerClients.set(id, client);
    }
    return client;
  }

  /** An Auth0 adapter with its own pacer, as one Lambda instance has. */
  auth0Adapter(share = consumerBudget(this.config)): Auth0Adapter {
    const pacer = new Pacer({ rate: share.rps, burst: share.burst });
    return new Auth0Adapter({ ...auth0OptionsFromConfig(this.config, this.auth0Target.credentials, {}, pacer), baseUrl: this.auth0Target.baseUrl });
  }

  async queueDepth(url: string): Promise<{ visible: number; inFlight: number }> {
    const a = (
      await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))
    ).Attributes!;
    return { visible: Number(a.ApproximateNumberOfMessages), inFlight: Number(a.ApproximateNumberOfMessagesNotVisible) };
  }

  /**
   * Polls the main queue as Lambda's SQS event source does and invokes the real consumer handler, one handler
   * instance per concurrent consumer, until nothing is visible or in flight. Returns the instances' adapters.
   */
  async drain(opts: { onOutcome: (e: OutcomeEvent) => void; onPoll?: () => void; until?: Promise<unknown>; signal?: AbortSignal }): Promise<Auth0Adapter[]> {
    const { config, sqs, queueUrl, queueArn } = this;
    const chaos = this.opts.chaos ?? {};
    const share = consumerBudget(config);
    const adapters: Auth0Adapter[] = [];
    const timeoutMs = config.queue.consumerTimeoutSeconds * 1000;
    /** One Lambda instance: its own pacer and token cache; a replaced (timed-out) one reports nothing more. */
    const instance = () => {
      const alive = { v: true };
      const handler = createConsumerHandler(({ logger }) => {
        const auth0 = this.auth0Adapter(share);
        adapters.push(auth0);
        return { config, auth0, logger, ledger: this.ledgerFor?.("consumer"), onOutcome: (e: OutcomeEvent) => alive.v && opts.onOutcome(e) };
      });
      return { handler, alive };
    };
    const consumers = Array.from({ length: share.maxConcurrency }, instance);
    const abandoned: Promise<unknown>[] = [];
    const deliveredOnce = new Set<string>();
    let invocations = 0;
    const maxPerReceive = Math.min(10, config.queue.batchSize);
    let draining = true;
    const worker = async (i: number) => {
      while (draining && !opts.signal?.aborted) {
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
        const n = invocations++;
        const { handler, alive } = consumers[i]!;
        let failed = new Set<string>();
        const giveUpAfter = chaos.abandonInvocation?.(n);
        const invoked = handler(event, fakeContext(timeoutMs, `consumer-${i}`));
        const res = await (giveUpAfter === undefined ? invoked.then((r) => ({ r })) : Promise.race([invoked.then((r) => ({ r })), sleep(giveUpAfter).then(() => "timeout" as const)])).catch(
          () => ({ r: { batchItemFailures: records.map((x) => ({ itemIdentifier: x.messageId })) } }),
        );
        if (res === "timeout") {
          // Lambda's timeout: the invocation's records all count as failed; the instance is gone.
          alive.v = false;
          abandoned.push(invoked.catch(() => undefined));
          consumers[i] = instance();
          failed = new Set(records.map((r) => r.messageId));
        } else {
          failed = new Set((res.r?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        }
        // At-least-once: a message processed for the first time is delivered again instead of deleted.
        const again = chaos.deliverTwice ? records.filter((r) => !failed.has(r.messageId) && !deliveredOnce.has(r.messageId)) : [];
        for (const r of again) deliveredOnce.add(r.messageId);
        const ok = records.filter((r) => !failed.has(r.messageId) && !again.includes(r));
        const retry = records.filter((r) => failed.has(r.messageId));
        const visibility = [...retry.map((r) => [r, this.opts.retryDelaySeconds ?? 1] as const), ...again.map((r) => [r, 0] as const)];
        for (let j = 0; j < visibility.length; j += 10) {
          await sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: visibility.slice(j, j + 10).map(([r, s], k) => ({ Id: String(k), ReceiptHandle: r.receiptHandle, VisibilityTimeout: s })),
            }),
          );
        }
        for (let j = 0; j < ok.length; j += 10) {
          await sqs.send(
            new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: ok.slice(j, j + 10).map((r, k) => ({ Id: String(k), ReceiptHandle: r.receiptHandle })) }),
          );
        }
        opts.onPoll?.();
      }
    };
    const workers = consumers.map((_, i) => worker(i));
    // Drained when the producer (the extract) has ended, whether it succeeded or not (what it enqueued is
    // consumed either way, as in AWS), and nothing is visible or in flight on the main queue.
    let producing = opts.until !== undefined;
    void opts.until?.then(
      () => (producing = false),
      () => (producing = false),
    );
    for (;;) {
      await sleep(200);
      opts.onPoll?.();
      // Cancelled: no new message is taken; the invocations under way finish below (Lambda's would too).
      if (opts.signal?.aborted && !producing) break;
      if (producing) continue;
      const d = await this.queueDepth(queueUrl);
      if (d.visible === 0 && d.inFlight === 0) break;
    }
    draining = false;
    await Promise.all(workers);
    await Promise.all(abandoned);
    return adapters;
  }

  /** Every message in the DLQ, read without consuming it (each is made visible again at once). */
  async peekDlq(): Promise<PeekedMessage[]> {
    const out = new Map<string, PeekedMessage>();
    const handles: string[] = [];
    for (;;) {
      const got = await this.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: this.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60, AttributeNames: ["All"], MessageAttributeNames: ["All"] }),
      );
      if (!got.Messages?.length) break;
      for (const m of got.Messages) {
        handles.push(m.ReceiptHandle!);
        out.set(m.MessageId!, {
          messageId: m.MessageId!,
          body: m.Body ?? "",
          sentAt: Number(m.MessageAttributes?.[SENT_AT]?.StringValue ?? m.Attributes?.SentTimestamp) || undefined,
        });
      }
    }
    for (let i = 0; i < handles.length; i += 10) {
      await this.sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.dlqUrl, Entries: handles.slice(i, i + 10).map((h, k) => ({ Id: String(k), ReceiptHandle: h, VisibilityTimeout: 0 })) }),
      );
    }
    return [...out.values()];
  }

  /** Persists what outlives a run: the emulated tenant and the DLQ's messages. */
  async save(): Promise<void> {
    this.emulator?.checkpoint();
    const dead = await this.peekDlq();
    writeFileAtomic(this.dlqFile, JSON.stringify(dead.map((m): SavedMessage => ({ body: m.body, sentAt: m.sentAt }))));
  }

  async stop(): Promise<void> {
    for (const c of this.cleanups.reverse()) await c().catch(() => undefined);
    this.cleanups.length = 0;
    for (const c of this.handlerClients.values()) (c as { destroy(): void }).destroy();
    this.handlerClients.clear();
  }
}

function writeFileAtomic(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

/** Runs one sync locally and returns its summary. */
export async function runLocalPipeline(opts: LocalRunOptions): Promise<LocalRunSummary> {
  const started = Date.now();
  const env = await LocalEnvironment.start(opts);
  try {
    await opts.onEnvironment?.(env);
    const config = env.config;
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
    // The statement's row count once the warehouse knows it: outcomes are counted against it, never above it.
    let totalRows: number | undefined;
    const progress = (phase: Progress["phase"], done: number, total: number) =>
      opts.onProgress?.({ phase, rowsRead, done, total: Math.max(total, done), elapsedMs: Date.now() - started });
    const extractor = createExtractorHandler(({ logger, metrics }) => ({
      config,
      source: new RedshiftSource(env.redshiftClient("extractor"), config.source, { minMs: 10, maxMs: 200 }),
      sqs: opts.chaos?.extractorSqs?.(env.handlerSqs("extractor")) ?? env.handlerSqs("extractor"),
      queueUrl: env.queueUrl,
      logger,
      metrics,
      ledger: env.ledgerFor?.("extractor"),
      unchangedCheck: opts.unchangedCheck,
      signal: opts.signal,
      onOutcome: record,
      onProgress: (p) => {
        rowsRead = p.rowsRead;
        totalRows = p.totalRows;
        progress("extract", outcomes.size, totalRows ?? p.rowsRead);
      },
    }));
    // ---- consume, as Lambda's SQS event source would: from the first message on, while the extract goes on ----
    let extracted: ExtractorResult | undefined;
    const syncStarted = Date.now();
    const extracting = (extractor({ approveMirror: opts.approveMirror }, fakeContext(15 * 60_000, "extractor")) as Promise<ExtractorResult>).then((r) => {
      extracted = r;
      rowsRead = r.rowsRead;
      env.redshiftEmulator.forget();
    });
    const adapters = await env.drain({
      onOutcome: record,
      onPoll: () => progress(extracted ? "consume" : "extract", outcomes.size, extracted ? rowsRead + (extracted.mirror?.held ? 0 : (extracted.mirror?.absent ?? 0)) : (totalRows ?? rowsRead)),
      until: extracting,
      signal: opts.signal,
    });
    // A failed extract: what it enqueued was consumed above; the tenant and the DLQ are kept; the run fails. A
    // cancelled one (Ctrl-C) ends like an interrupted run: what was applied is kept, the rest goes with the next.
    let cancelled: RunCancelledError | undefined;
    await extracting.catch(async (err: unknown) => {
      if (err instanceof RunCancelledError) {
        cancelled = err;
        return;
      }
      await env.save();
      throw err;
    });
    if (!extracted && !cancelled) throw new Error("the extract did not finish");
    const runId = extracted?.runId ?? cancelled!.runId;
    if (cancelled) rowsRead = cancelled.rowsRead;

    // ---- what of this run ended in the DLQ (it stays there for redrive) ----
    for (const m of await env.peekDlq()) {
      const parsed = parseMessage(m.body);
      if (!parsed.ok || parsed.message.runId !== runId) continue;
      for (const op of parsed.message.ops) if (!outcomes.has(opKey(op))) record({ runId, key: opKey(op), outcome: "deadLettered" });
    }

    const syncMs = Date.now() - syncStarted;

    // ---- figures ----
    const acc = new RunAccounting();
    acc.read(rowsRead);
    if (extracted?.mirror && !extracted.mirror.held) acc.addAbsent(extracted.mirror.absent);
    for (const e of outcomes.values()) acc.record(e.outcome, { code: e.rejection?.code });
    const snap = acc.snapshot();
    await env.save();
    progress("done", outcomes.size, rowsRead);
    const count = (o: Outcome) => snap[o];
    return {
      runId,
      rowsRead,
      cancelled: opts.signal?.aborted === true,
      created: count("created"),
      updated: count("updated"),
      unchanged: count("unchanged"),
      rejected: count("rejected"),
      deadLettered: count("deadLettered"),
      blocked: count("blocked"),
      deleted: count("deleted"),
      skipped: extracted?.skipped,
      held: extracted?.mirror?.held ?? false,
      heldReason: extracted?.mirror?.heldReason,
      unaccounted: snap.unaccounted,
      auth0Calls: adapters.reduce((s, a) => s + a.stats.calls, 0),
      auth0Status429: adapters.reduce((s, a) => s + a.stats.status429, 0),
      elapsedMs: Date.now() - started,
      syncMs,
      topReasons: acc.topReasons(5).map(([code, n]) => ({ code, count: n })),
      rejections: [...outcomes.values()]
        .filter((e) => e.outcome === "rejected" && e.rejection)
        .sort((a, b) => (a.row ?? 0) - (b.row ?? 0))
        .map((e) => rejectionMessage(e.rejection!)),
      sqsRequests: extracted?.sqsRequests ?? 0,
      consumerInstances: consumerBudget(config).maxConcurrency,
    };
  } finally {
    await env.stop();
  }
}
