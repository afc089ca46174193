/**
 * The local stand-ins of one sync, on 127.0.0.1 with no AWS and (by default) no Auth0: an embedded warehouse
 * (PGlite) behind the Redshift Data API emulator, local-aws-sqs with a queue and DLQ redriving like the deployed
 * ones, the Auth0 emulator (or a real tenant), and the ledger on dynalite.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { ChangeMessageVisibilityBatchCommand, CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { S3Client } from "@aws-sdk/client-s3";
import { createSqsServer } from "local-aws-sqs";
import { Auth0Adapter, auth0OptionsFromConfig, type Auth0Credentials } from "../../functions/adapters/auth0/client.js";
import { PacerSet } from "../../functions/adapters/auth0/pacers.js";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { queueDepth } from "../../functions/adapters/sqs/redrive.js";
import { warehouseOf, type SyncConfig } from "../../functions/core/config.js";
import { consumerBudget } from "../../functions/core/budget.js";
import { sameTenantNames } from "../../functions/core/tenant-copy-config.js";
import { openRowSource, type RowSourceWiring, type SourceTenantAccess } from "../../functions/flows/row-source.js";
import type { RowSource } from "../../functions/core/source.js";
import { randomBytes } from "node:crypto";
import { demoSourceTenant } from "../demo-tenant.js";
import { DEFAULT_GLOBAL_LIMIT, ORGANIZATION_GROUPS, type RateLimitSettings } from "../../functions/core/rate-limits.js";
import type { OutcomeEvent } from "../../functions/core/outcomes.js";
import { createConsumerHandler } from "../../functions/flows/consumer-lambda.js";
import { createImporterHandler } from "../../functions/flows/importer-lambda.js";
import { Auth0Imports } from "../../functions/adapters/auth0/imports.js";
import { QueueSender } from "../../functions/adapters/sqs/sender.js";
import { IMPORTER_TIMEOUT_SECONDS, MAX_ACTIVE_IMPORT_JOBS } from "../../functions/core/import-batches.js";
import { CREATED_WRITES_BATCH, CREATED_WRITES_CONCURRENCY, WRITES_QUEUE_SUFFIX, createdWritesWindowSeconds, defersCreatedWrites } from "../../functions/core/created-writes.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, TenantFileError, type CompetitorSettings } from "../auth0-emulator.js";
import { DEMO_ORGS, DEMO_ROLES, loadCsvChecked, seedDemo, tableFromSql } from "../demo-data.js";
import { RedshiftDataEmulator, bindNamedParameters } from "../redshift-data-emulator.js";
import { startS3, type LocalS3 } from "../s3.js";
import { unloadSchema } from "../../functions/core/extract-config.js";
import { ensureLedgerTable, startDynamo } from "../dynamo.js";
import { openWarehouseDb } from "../warehouse-db.js";
import { recordCalls, type AwsCall, type Caller, type LambdaName } from "../aws-calls.js";
import { LocalStateError, clearStateDir, lockStateDir, markWarehouseReady, readStateFile, warehouseReady } from "../state-dir.js";
import { drainQueue, InstancePool, type ConsumerInstance, type DeliveryFaults } from "./sqs-event-source.js";

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
  /**
   * Requests per second (and burst) of the emulated tenant and of the sync's budget: one global bucket for both.
   * Without it the sync keeps its config's limits and the emulated tenant has the same buckets (its plan's).
   */
  rate?: number;
  burst?: number;
  /** The emulated tenant's buckets when they differ from what the sync is configured for (a misread plan). */
  tenantLimits?: RateLimitSettings;
  /** Another Management API client spending the emulated tenant's buckets during the run. */
  competitor?: CompetitorSettings;
  /** A real (or other Auth0-compatible) tenant instead of the emulator. */
  realTenant?: { domain: string; credentials: Auth0Credentials; baseUrl?: string };
  /**
   * Seconds before a failed record is delivered again. Lambda leaves it to the visibility timeout (6 x the
   * function timeout); locally that would make every retry wait minutes, so the poller shortens it.
   */
  retryDelaySeconds?: number;
  /**
   * How often the importer asks after its job (default 50 ms doubling to 500 ms, so local runs and tests do not
   * wait out a deployed importer's 1 to 10 s; the bench passes `IMPORT_POLL_MS` to count a deployed one's polls).
   */
  importerPollMs?: { first: number; max: number };
  /** Run without the ledger (every row looked up in Auth0), e.g. to compare. */
  noLedger?: boolean;
  /** Fault injection for the reliability suite (test/e2e/reliability.test.ts). */
  chaos?: Chaos;
  /** Every AWS SDK command the handlers send is appended here (the IAM coverage test checks them). */
  awsCalls?: AwsCall[];
  /** Slices of the emulated cluster: an UNLOAD writes one file or more per slice (default 2). */
  slices?: number;
  /** How the run reads the warehouse, over the config's source.extract (`npm start -- --extract unload`). */
  extract?: "auto" | "data-api" | "unload";
}

/** Faults injected into a local run; `abandonInvocation` and `deliverTwice` are played by the SQS event source. */
export interface Chaos extends DeliveryFaults {
  /** Wraps the SQS client the extractor sends with (e.g. to fail some SendMessageBatch entries). */
  extractorSqs?: (sqs: SQSClient) => SQSClient;
  /** The warehouse read fails from this page on: the extract fails halfway. */
  failFromPage?: number;
  /** Wraps the SQS client the segment workers send with (e.g. to crash one mid-segment). */
  segmentSqs?: (sqs: SQSClient) => SQSClient;
  /** The Data API emulator's result limit in bytes (AWS: 500 MB), lowered so a test meets it with a few rows. */
  dataApiResultLimitBytes?: number;
  /** Delivery faults of the import queue's event source (e.g. an importer given up while its job runs). */
  importer?: DeliveryFaults;
}

/** A message read from the local DLQ without consuming it. */
export interface PeekedMessage {
  messageId: string;
  body: string;
  sentAt?: number;
}

/** A tenant copy's emulated source tenant, in the state directory beside the target's tenant.json. */
const SOURCE_TENANT_FILE = "source-tenant.json";

const FAKE_AWS = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };

const SENT_AT = "auth0sync-first-sent-at";

interface SavedMessage {
  body: string;
  sentAt?: number;
}

const isTenantState = (v: unknown): v is { users: unknown[] } => v !== null && typeof v === "object" && Array.isArray((v as { users?: unknown }).users);

const isSavedMessages = (v: unknown): v is SavedMessage[] =>
  Array.isArray(v) && v.every((m) => m !== null && typeof m === "object" && typeof (m as SavedMessage).body === "string");

function writeFileAtomic(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

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
  /** The import queue (docs/imports.md): batches of new users for the importer; its failures share the DLQ. */
  importQueueUrl!: string;
  importQueueArn!: string;
  /** The writes queue (core/created-writes.ts): created users' roles and memberships, for the consumer to group. */
  writesQueueUrl?: string;
  writesQueueArn?: string;
  dlqUrl!: string;
  dlqArn!: string;
  redshiftEndpoint!: string;
  /** The warehouse's Data API (absent for a tenant copy, which reads a source tenant). */
  redshiftEmulator?: RedshiftDataEmulator;
  /** S3 for the unloaded files, and the bucket UNLOAD writes to (a config with source.unload). */
  s3?: LocalS3;
  unloadBucket?: string;
  emulator?: Auth0Emulator;
  /** A tenant copy's emulated source tenant (source.type auth0), persisted in source-tenant.json. */
  sourceEmulator?: Auth0Emulator;
  /** How the copy reaches its source tenant, and the pseudonymisation key kept in the state directory. */
  sourceAccess?: SourceTenantAccess;
  auth0Target!: { domain: string; baseUrl?: string; credentials: Auth0Credentials };
  /** The ledger as one Lambda reaches it (its calls recorded when `awsCalls` is set), or as the operator does. */
  ledgerFor?: (fn?: LambdaName) => Ledger;
  private sqsEndpoint!: string;
  private ledgerEndpoint?: { endpoint: string; tableName: string };
  private readonly handlerClients = new Map<string, unknown>();
  readonly tenantFile: string;
  readonly sourceTenantFile: string;
  readonly dlqFile: string;

  private constructor(readonly opts: LocalEnvironmentOptions) {
    this.tenantFile = join(opts.stateDir, "tenant.json");
    this.sourceTenantFile = join(opts.stateDir, SOURCE_TENANT_FILE);
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
    return existsSync(join(stateDir, "warehouse")) || existsSync(join(stateDir, SOURCE_TENANT_FILE));
  }

  private async init(): Promise<void> {
    const opts = this.opts;
    const cfg = opts.config;
    // Inputs and state are checked before anything changes; each refusal is one sentence (LocalStateError).
    if (opts.csv && !existsSync(opts.csv)) throw new LocalStateError(`The CSV file ${opts.csv} does not exist; nothing was changed.`);
    // A copy's source is emulated here under another name, so the config's own names of it are compared with the
    // real target now, before that swap (and before any request).
    const same = cfg.source.type === "auth0" && opts.realTenant ? sameTenantNames([cfg.source.baseUrl, cfg.source.domain], [opts.realTenant.baseUrl, opts.realTenant.domain]) : undefined;
    if (same) throw new LocalStateError(`Refused: the target tenant (${same.target}) is the copy's source tenant (${same.source}); a copy never writes into the tenant it reads, and nothing was changed.`);
    mkdirSync(opts.stateDir, { recursive: true });
    // One process at a time: two on one directory would mix their state (and PGlite refuses a second opener).
    const release = lockStateDir(opts.stateDir);
    this.cleanups.push(() => Promise.resolve().then(release));
    if (opts.fresh) clearStateDir(opts.stateDir);
    this.refuseOtherKind(cfg);
    const savedDlq = existsSync(this.dlqFile) ? readStateFile(this.dlqFile, "local DLQ file", isSavedMessages) : [];
    // The tenant file is read (and its journal replayed) by the emulator below; a damaged one is refused here,
    // before the warehouse step can change anything.
    if (existsSync(this.tenantFile)) readStateFile(this.tenantFile, "local tenant file", isTenantState);
    const config = this.limitedConfig();
    if (cfg.source.type === "auth0") await this.startSourceTenant(config);
    else await this.prepareWarehouse(config);
    await this.startQueues(config, savedDlq);
    // The emulated tenant has the plan's buckets (or the global budget); the config's group overrides are what the
    // sync keeps for itself, not the tenant's limits.
    await this.startAuth0(config, opts.tenantLimits ?? { plan: config.auth0.plan, rateLimit: config.auth0.rateLimit, ...(opts.rate !== undefined ? { endpointGroups: config.auth0.endpointGroups } : {}) });
    this.config = { ...config, auth0: { ...config.auth0, domain: this.auth0Target.domain, baseUrl: this.auth0Target.baseUrl } };
    if (config.source.type === "auth0" && this.sourceEmulator) {
      this.config = { ...this.config, source: { ...config.source, domain: this.sourceEmulator.domain, baseUrl: this.sourceAccess?.baseUrl } };
    }
    if (!opts.noLedger) await this.startLedger(config);
  }

  /**
   * A state directory holds one kind of sync: a tenant copy started where a warehouse sync ran (or the other way
   * round) would write both populations into one emulated tenant and one ledger, and mirror mode of either would
   * take the other's users for absent ones.
   */
  private refuseOtherKind(cfg: SyncConfig): void {
    const dir = this.opts.stateDir;
    const way = "add --fresh to start over, or give this sync its own --state DIR (and the same --state to auth0-sync --local)";
    if (cfg.source.type === "auth0" && existsSync(join(dir, "warehouse"))) {
      throw new LocalStateError(`${dir} holds a warehouse sync; a tenant copy there would mix its users with that sync's in one tenant: ${way}.`);
    }
    if (cfg.source.type !== "auth0" && existsSync(this.sourceTenantFile)) {
      throw new LocalStateError(`${dir} holds a tenant copy; a warehouse sync there would mix its users with the copy's in one tenant: ${way}.`);
    }
  }

  /**
   * The config with `--rate` applied: one global bucket for the sync and the emulated tenant, and the organization
   * groups (a bucket of their own on every Auth0 plan) at the same rate, so the demo is not paced by them.
   */
  private limitedConfig(): SyncConfig {
    const { rate, burst } = this.opts;
    const cfg = this.extractOf(this.opts.config);
    if (rate === undefined) return cfg;
    const rateLimit = { requestsPerSecond: rate, burst: burst ?? Math.max(cfg.auth0.rateLimit?.burst ?? DEFAULT_GLOBAL_LIMIT.burst, Math.ceil(rate)) };
    const endpointGroups = Object.fromEntries(ORGANIZATION_GROUPS.map((g) => [g, rateLimit]));
    return { ...cfg, auth0: { ...cfg.auth0, plan: undefined, endpointGroups, rateLimit } };
  }

  /**
   * The config with `extract` applied: `--extract unload` (or `auto`) on a config without source.unload unloads with
   * the cluster's default role (the emulator's cluster has one), so the demo runs every way with no config change.
   */
  private extractOf(cfg: SyncConfig): SyncConfig {
    const extract = this.opts.extract;
    if (!extract || cfg.source.type !== "redshift") return cfg;
    const unload = cfg.source.unload ?? (extract !== "data-api" ? unloadSchema.parse({ iamRole: "default" }) : undefined);
    return { ...cfg, source: { ...cfg.source, extract, unload } };
  }

  /** The warehouse's state checked (seeded to the end, --rows only for a new one), then started. */
  private async prepareWarehouse(config: SyncConfig): Promise<void> {
    const opts = this.opts;
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
    await this.startWarehouse(config, warehouseDir, isNew);
  }

  /**
   * A tenant copy's source: a second emulated tenant persisted beside the target's (source-tenant.json), seeded with
   * demo users when new; the pseudonymisation key is PSEUDONYM_KEY or one kept in the state directory, so
   * pseudonyms stay the same from one refresh to the next.
   */
  private async startSourceTenant(config: SyncConfig): Promise<void> {
    const opts = this.opts;
    const src = config.source;
    if (src.type !== "auth0") return;
    const isNew = !existsSync(this.sourceTenantFile);
    if (opts.csv) throw new LocalStateError("--csv loads a warehouse; a tenant copy reads its source tenant (source.type auth0): leave --csv out.");
    if (opts.seedRows !== undefined && !isNew) {
      throw new LocalStateError(`--rows ${opts.seedRows} seeds a new source tenant, but ${opts.stateDir} already has one: add --fresh to start over, or leave --rows out.`);
    }
    if (!isNew) readStateFile(this.sourceTenantFile, "local source tenant file", isTenantState);
    const emulator = new Auth0Emulator({
      domain: "source.emulator.local",
      limits: { rateLimit: { requestsPerSecond: 50, burst: 50 } },
      roles: DEMO_ROLES,
      connections: src.connections.map((name) => ({ name, strategy: "auth0" as const })),
      exportJobDurationMs: 100,
    });
    try {
      emulator.persistTo(this.sourceTenantFile);
    } catch (err) {
      if (err instanceof TenantFileError) throw new LocalStateError(`${err.message}: restore it, delete it to lose what it holds, or start over with --fresh.`);
      throw err;
    }
    if (isNew) emulator.load(demoSourceTenant(opts.seedRows ?? 2000, src.connections[0] as string));
    const baseUrl = await emulator.start();
    this.cleanups.push(() => emulator.stop());
    this.sourceEmulator = emulator;
    this.sourceAccess = { baseUrl, credentials: { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET }, key: process.env.PSEUDONYM_KEY || this.pseudonymKey() };
  }

  /** The state directory's pseudonymisation key (256 random bits, made once). */
  private pseudonymKey(): string {
    const file = join(this.opts.stateDir, "pseudonym.key");
    if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
    return readFileSync(file, "utf8").trim();
  }

  /** The row source one Lambda (or the CLI) reads: the warehouse, or the copy's source tenant. */
  rowSource(fn?: LambdaName, onSourceUser?: RowSourceWiring["onSourceUser"]): Promise<RowSource> {
    return openRowSource(this.config, {
      redshift: () => this.redshiftClient(fn),
      redshiftPoll: { minMs: 10, maxMs: 200 },
      sourceTenant: () => Promise.resolve(this.sourceAccess!),
      targetBaseUrl: this.auth0Target.baseUrl,
      snapshot: { poll: { initialMs: 50, maxMs: 500 } },
      onSourceUser,
    });
  }

  private async startWarehouse(config: SyncConfig, warehouseDir: string, isNew: boolean): Promise<void> {
    const opts = this.opts;
    const db = await openWarehouseDb(warehouseDir);
    this.cleanups.push(() => db.close());
    if (opts.csv) {
      const { parameters, sql } = warehouseOf(config);
      const params = Object.entries(parameters ?? {}).map(([name, value]) => ({ name, value }));
      const rows = await loadCsvChecked(db, tableFromSql(sql), readFileSync(opts.csv, "utf8"), opts.csv, bindNamedParameters(sql, params)).catch((err: unknown) => {
        throw new LocalStateError((err as Error).message);
      });
      markWarehouseReady(opts.stateDir, `${rows} rows from ${opts.csv}`);
    } else if (isNew) {
      await seedDemo(db, opts.seedRows ?? 2000);
      markWarehouseReady(opts.stateDir, `${opts.seedRows ?? 2000} demo rows`);
    }
    // With source.unload, S3 for the unloaded files (persisted in the state directory, as a bucket would be).
    const unload = warehouseOf(config).unload;
    if (unload) {
      this.unloadBucket = unload.bucket ?? `auth0-sync-${config.name}-unload`;
      const s3 = await startS3(join(opts.stateDir, "s3"), [this.unloadBucket]);
      this.s3 = s3;
      this.cleanups.push(() => s3.stop());
    }
    this.redshiftEmulator = new RedshiftDataEmulator({
      db,
      pageSize: warehouseOf(config).pageSize,
      failFromPage: opts.chaos?.failFromPage,
      resultLimitBytes: opts.chaos?.dataApiResultLimitBytes,
      s3: this.s3?.client(),
      slices: opts.slices,
    });
    this.redshiftEndpoint = await this.redshiftEmulator.start();
    this.cleanups.push(() => this.redshiftEmulator!.stop());
  }

  private async startQueues(config: SyncConfig, savedDlq: SavedMessage[]): Promise<void> {
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
    this.importQueueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `${config.name}-import`,
          Attributes: {
            VisibilityTimeout: String(2 * IMPORTER_TIMEOUT_SECONDS),
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.dlqArn, maxReceiveCount: config.queue.maxReceiveCount }),
          },
        }),
      )
    ).QueueUrl!;
    this.importQueueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.importQueueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    if (defersCreatedWrites(config)) {
      this.writesQueueUrl = (
        await sqs.send(
          new CreateQueueCommand({
            QueueName: `${config.name}${WRITES_QUEUE_SUFFIX}`,
            Attributes: {
              VisibilityTimeout: String(6 * config.queue.consumerTimeoutSeconds),
              RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.dlqArn, maxReceiveCount: config.queue.maxReceiveCount }),
            },
          }),
        )
      ).QueueUrl!;
      this.writesQueueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: this.writesQueueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    }
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
  }

  private async startAuth0(config: SyncConfig, limits: RateLimitSettings): Promise<void> {
    const opts = this.opts;
    if (opts.realTenant) {
      this.auth0Target = opts.realTenant;
    } else {
      const emulator = new Auth0Emulator({
        limits,
        competitor: opts.competitor,
        roles: DEMO_ROLES,
        organizations: DEMO_ORGS,
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
  }

  private async startLedger(config: SyncConfig): Promise<void> {
    const dynamo = await startDynamo(join(this.opts.stateDir, "ledger"));
    this.cleanups.push(() => dynamo.stop());
    const tableName = `auth0-sync-${config.name}-ledger`;
    await ensureLedgerTable(dynamo.client, tableName);
    this.ledgerEndpoint = { endpoint: dynamo.endpoint, tableName };
    this.ledgerFor = (fn) => new Ledger(fn ? this.handlerClient(fn, "dynamodb", () => new DynamoDBClient({ ...FAKE_AWS, endpoint: dynamo.endpoint })) : dynamo.client, tableName);
    // A local run stopped with Ctrl-C leaves its lock behind; no other process can have this directory open.
    await this.ledgerFor().runs.breakLock();
  }

  /**
   * Where a process of its own reaches the stand-ins a segment worker uses (the bench runs workers as child
   * processes it can SIGKILL): the local S3, SQS with the main queue, the ledger.
   */
  workerEndpoints(): { s3: string; sqs: string; queueUrl: string; ledger: string; ledgerTable: string } {
    if (!this.s3 || !this.ledgerEndpoint) throw new Error("this environment has no local S3 or ledger (a config that unloads has both)");
    return { s3: this.s3.endpoint, sqs: this.sqsEndpoint, queueUrl: this.queueUrl, ledger: this.ledgerEndpoint.endpoint, ledgerTable: this.ledgerEndpoint.tableName };
  }

  redshiftClient(fn?: Caller): RedshiftDataClient {
    // Each caller its own identity: the emulator lets only a statement's owner describe and read it, as AWS does.
    const make = () => new RedshiftDataClient({ ...FAKE_AWS, credentials: { accessKeyId: `local-${fn ?? "operator"}`, secretAccessKey: "local" }, endpoint: this.redshiftEndpoint });
    return fn ? this.handlerClient(fn, "redshift", make) : make();
  }

  /** The S3 client a Lambda (or the state machine, as "extractor"'s caller) reads and writes the unloaded files with. */
  handlerS3(fn: Caller): S3Client {
    const s3 = this.s3;
    if (!s3) throw new Error("this config has no source.unload: there is no local S3");
    return this.handlerClient(fn, "s3", () => s3.client());
  }

  /** The SQS client a Lambda sends with: its own, apart from the one that plays Lambda's event source. */
  handlerSqs(fn: LambdaName): SQSClient {
    return this.handlerClient(fn, "sqs", () => new SQSClient({ ...FAKE_AWS, endpoint: this.sqsEndpoint }));
  }

  /**
   * The Lambda client a handler invokes functions with: its calls are recorded, and answered here as an
   * asynchronous invoke is (202) without going anywhere; the local runner makes the next invocation itself.
   */
  handlerLambda(fn: LambdaName): LambdaClient {
    return this.handlerClient(fn, "lambda", () => {
      const client = new LambdaClient({ ...FAKE_AWS, endpoint: "http://127.0.0.1:9" });
      client.middlewareStack.add(() => () => Promise.resolve({ output: { StatusCode: 202, $metadata: {} }, response: {} }), { step: "build", name: "localAsyncInvoke" });
      return client;
    });
  }

  /** Records a call made without an SDK client of ours (the state machine's Lambda invocations, locally direct). */
  recordCall(call: AwsCall): void {
    this.opts.awsCalls?.push(call);
  }

  /** One client per Lambda and service, recording its calls when `awsCalls` is set. */
  private handlerClient<C extends { middlewareStack: { add: unknown } }>(fn: Caller, service: string, make: () => C): C {
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
    const pacer = PacerSet.fromShares(share);
    return new Auth0Adapter({ ...auth0OptionsFromConfig(this.config, this.auth0Target.credentials, {}, pacer), baseUrl: this.auth0Target.baseUrl });
  }

  async queueDepth(url: string): Promise<{ visible: number; inFlight: number }> {
    return queueDepth(this.sqs, url);
  }

  /**
   * Polls the main queue as Lambda's SQS event source does (see `drainQueue`) and invokes the real consumer
   * handler, one handler instance per concurrent consumer, until nothing is visible or in flight. Returns the
   * instances' adapters.
   */
  async drain(opts: { onOutcome: (e: OutcomeEvent) => void; onPoll?: () => void; until?: Promise<unknown>; signal?: AbortSignal }): Promise<Auth0Adapter[]> {
    const config = this.config;
    const share = consumerBudget(config);
    const adapters: Auth0Adapter[] = [];
    /** One Lambda instance: its own pacer and token cache; a replaced (timed-out) one reports nothing more. */
    const newInstance = this.consumerInstance(adapters, opts.onOutcome);
    // One function, two event sources (the main queue and the writes queue): one pool of warm instances.
    const pool = new InstancePool(newInstance);
    const main = drainQueue(
      {
        sqs: this.sqs,
        queueUrl: this.queueUrl,
        queueArn: this.queueArn,
        batchSize: config.queue.batchSize,
        maxConcurrency: share.maxConcurrency,
        timeoutMs: config.queue.consumerTimeoutSeconds * 1000,
        retryDelaySeconds: this.opts.retryDelaySeconds,
        faults: this.opts.chaos,
        newInstance,
        pool,
      },
      { onPoll: opts.onPoll, until: opts.until, signal: opts.signal },
    );
    // Created users' roles and memberships (core/created-writes.ts), which the consumers hand on while they run.
    // Not cancelled with the rest: those users exist in Auth0 already, and what is under way finishes.
    const writes = this.drainWrites({ until: main, pool });
    await main;
    await writes;
    return adapters;
  }

  /** One Lambda instance of the consumer: its own pacer and token cache; a replaced (timed-out) one reports nothing more. */
  private consumerInstance(adapters: Auth0Adapter[], onOutcome: (e: OutcomeEvent) => void): () => ConsumerInstance {
    const config = this.config;
    const share = consumerBudget(config);
    return () => {
      let alive = true;
      const handler = createConsumerHandler(({ logger }) => {
        const auth0 = this.auth0Adapter(share);
        adapters.push(auth0);
        const createdWrites = this.writesQueueUrl ? new QueueSender(this.handlerSqs("consumer"), this.writesQueueUrl) : undefined;
        return { config, auth0, logger, ledger: this.ledgerFor?.("consumer"), createdWrites, onOutcome: (e: OutcomeEvent) => alive && onOutcome(e) };
      });
      return { handler, retire: () => (alive = false) };
    };
  }

  /**
   * Polls the writes queue as its event source does (a batching window, a grouped call's worth of users, at most
   * two at once: core/created-writes.ts) and invokes the consumer handler, until nothing is visible or in flight.
   */
  private async drainWrites(opts: { until?: Promise<unknown>; signal?: AbortSignal; pool: InstancePool }): Promise<void> {
    if (!this.writesQueueUrl || !this.writesQueueArn) return;
    await drainQueue(
      {
        sqs: this.sqs,
        queueUrl: this.writesQueueUrl,
        queueArn: this.writesQueueArn,
        batchSize: CREATED_WRITES_BATCH,
        batchingWindowMs: createdWritesWindowSeconds(this.config) * 1000,
        maxConcurrency: CREATED_WRITES_CONCURRENCY,
        timeoutMs: this.config.queue.consumerTimeoutSeconds * 1000,
        retryDelaySeconds: this.opts.retryDelaySeconds,
        newInstance: () => opts.pool.take(),
        pool: opts.pool,
      },
      { until: opts.until, signal: opts.signal },
    );
  }

  /**
   * Polls the import queue as the importer's event source does (at most two at once: Auth0 runs two import jobs of
   * a tenant at a time) and invokes the real importer handler, until nothing is visible or in flight.
   */
  async drainImports(opts: { onOutcome: (e: OutcomeEvent) => void; until?: Promise<unknown>; signal?: AbortSignal; faults?: DeliveryFaults }): Promise<Auth0Adapter[]> {
    const config = this.config;
    const share = consumerBudget(config);
    const adapters: Auth0Adapter[] = [];
    const newInstance = (): ConsumerInstance => {
      let alive = true;
      const handler = createImporterHandler(({ logger }) => {
        const auth0 = this.auth0Adapter(share);
        adapters.push(auth0);
        const imports = new Auth0Imports(auth0, config.auth0.connection);
        // An instance given up (a timeout, a kill) stops at its next call to Auth0's jobs, as a killed Lambda would.
        const living = <T>(call: () => Promise<T>): Promise<T> => (alive ? call() : Promise.reject(new Error("this importer instance was stopped")));
        return {
          config,
          auth0,
          logger,
          ledger: this.ledgerFor?.("importer"),
          imports: {
            prepare: () => living(() => imports.prepare()),
            submit: (u, id) => living(() => imports.submit(u, id)),
            job: (id) => living(() => imports.job(id)),
            errors: (id) => living(() => imports.errors(id)),
          },
          perUser: new QueueSender(this.handlerSqs("importer"), this.queueUrl),
          createdWrites: this.writesQueueUrl ? new QueueSender(this.handlerSqs("importer"), this.writesQueueUrl) : undefined,
          pollMs: this.opts.importerPollMs ?? { first: 50, max: 500 },
          onOutcome: (e: OutcomeEvent) => alive && opts.onOutcome(e),
        };
      });
      return { handler, retire: () => (alive = false) };
    };
    await drainQueue(
      {
        sqs: this.sqs,
        queueUrl: this.importQueueUrl,
        queueArn: this.importQueueArn,
        batchSize: 1,
        maxConcurrency: MAX_ACTIVE_IMPORT_JOBS,
        timeoutMs: IMPORTER_TIMEOUT_SECONDS * 1000,
        retryDelaySeconds: this.opts.retryDelaySeconds,
        faults: opts.faults,
        newInstance,
      },
      { until: opts.until, signal: opts.signal },
    );
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
    this.sourceEmulator?.checkpoint();
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
