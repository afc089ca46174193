/**
 * The moving parts: the schedule, the extractor and consumer Lambdas, the queue and its DLQ, the ledger, the
 * secrets, and least-privilege IAM for each; with `reconcile`, the reconcile (lib/reconcile-construct.ts); with
 * `watch`, the watch (lib/watch-construct.ts).
 */
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as secrets from "aws-cdk-lib/aws-secretsmanager";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { type SyncConfig } from "../functions/core/config.js";
import { consumerBudget } from "../functions/core/budget.js";
import { readsThroughDataApi, unloads } from "../functions/core/extract-config.js";
import { CREATED_WRITES_BATCH, CREATED_WRITES_CONCURRENCY, createdWritesWindowSeconds } from "../functions/core/created-writes.js";
import { IMPORTER_TIMEOUT_SECONDS, MAX_ACTIVE_IMPORT_JOBS } from "../functions/core/import-batches.js";
import { LedgerTable } from "./ledger-table.js";
import { Reconcile } from "./reconcile-construct.js";
import { grantWarehouseRead } from "./warehouse-grants.js";
import { SourceTenant } from "./source-tenant.js";
import { scheduleFunction } from "./function-schedule.js";
import { SyncFunction } from "./sync-function.js";
import { SyncQueues } from "./sync-queues.js";
import { UnloadRun } from "./unload-run.js";
import { Watch } from "./watch-construct.js";
import * as targets from "aws-cdk-lib/aws-scheduler-targets";

export interface PipelineProps {
  config: SyncConfig;
}

export class Pipeline extends Construct {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly scheduleDlq: sqs.Queue;
  readonly extractor: SyncFunction;
  readonly consumer: SyncFunction;
  /** With a config that may import new users: the import queue and its importer (docs/imports.md). */
  readonly importQueue?: sqs.Queue;
  readonly importer?: SyncFunction;
  /** With roles or organizations: created users' roles and memberships, grouped across invocations (core/created-writes.ts). */
  readonly writesQueue?: sqs.Queue;
  readonly schedule: scheduler.Schedule;
  readonly credentialsSecret: secrets.ISecret;
  readonly ledger: LedgerTable;
  readonly maxConcurrency: number;
  /** A tenant copy's source tenant (source.type auth0): its credentials and the pseudonymisation key. */
  readonly sourceTenant?: SourceTenant;
  /** With `reconcile` in the config: the reconcile's Lambda and schedule. */
  readonly reconcile?: Reconcile;
  /** With source.unload: the bucket, the segment worker and the state machine of a run over an unloaded table. */
  readonly unloadRun?: UnloadRun;
  /** With `watch` enabled: the rule on the tenant's log stream, the watch queue and its DLQ, the watch Lambda. */
  readonly watch?: Watch;

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    const { config } = props;
    const budget = consumerBudget(config);
    this.maxConcurrency = budget.maxConcurrency;

    // "Default": CDK leaves it out of logical ids, so the queues keep theirs (a renamed queue would be replaced,
    // and its physical name is fixed).
    const queues = new SyncQueues(this, "Default", { config });
    this.queue = queues.queue;
    this.dlq = queues.dlq;
    this.scheduleDlq = queues.scheduleDlq;
    this.importQueue = queues.importQueue;
    this.writesQueue = queues.writesQueue;
    this.ledger = new LedgerTable(this, "Ledger", { config });
    this.credentialsSecret = this.auth0Credentials(config);
    if (config.source.type === "auth0") this.sourceTenant = new SourceTenant(this, "SourceTenant", { name: config.name, source: config.source, transform: config.transform });

    this.extractor = new SyncFunction(this, {
      name: "extractor",
      config,
      timeout: Duration.seconds(config.lambda.extractorTimeoutSeconds),
      environment: {
        QUEUE_URL: this.queue.queueUrl,
        LEDGER_TABLE: this.ledger.tableName,
        ...(this.importQueue ? { IMPORT_QUEUE_URL: this.importQueue.queueUrl } : {}),
        ...(this.writesQueue ? { WRITES_QUEUE_URL: this.writesQueue.queueUrl } : {}),
      },
    });
    this.consumer = new SyncFunction(this, {
      name: "consumer",
      config,
      timeout: Duration.seconds(config.queue.consumerTimeoutSeconds),
      environment: {
        LEDGER_TABLE: this.ledger.tableName,
        ...(this.writesQueue ? { WRITES_QUEUE_URL: this.writesQueue.queueUrl } : {}),
        ...(config.auth0.credentialsSecretArn ? {} : { AUTH0_CREDENTIALS_SECRET_ARN: this.credentialsSecret.secretArn }),
      },
    });
    if (config.lambda.reservedConcurrency !== undefined) {
      (this.consumer.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = config.lambda.reservedConcurrency;
    }
    this.consumer.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: config.queue.batchSize,
        maxBatchingWindow: config.queue.maxBatchingWindowSeconds > 0 ? Duration.seconds(config.queue.maxBatchingWindowSeconds) : undefined,
        reportBatchItemFailures: true,
        // The rate budget is split between at most this many instances (README, "Rate budget").
        maxConcurrency: budget.maxConcurrency,
      }),
    );

    if (this.importQueue) this.importer = this.importerFor(config, this.importQueue);

    if (this.writesQueue) {
      // The writes queue: a grouped call's worth of created users, gathered over the window (core/created-writes.ts).
      this.consumer.addEventSource(
        new SqsEventSource(this.writesQueue, {
          batchSize: CREATED_WRITES_BATCH,
          maxBatchingWindow: Duration.seconds(createdWritesWindowSeconds(config)),
          reportBatchItemFailures: true,
          maxConcurrency: CREATED_WRITES_CONCURRENCY,
        }),
      );
    }

    // Exactly the calls each handler makes (test/lib/iam-coverage.test.ts records them through the local pipeline
    // and checks each against these roles, and that no action here goes unused).
    this.grantExtractor(config);
    this.grantConsumer(config);
    if (config.source.type === "redshift" && config.source.unload) {
      this.unloadRun = new UnloadRun(this, "UnloadRun", { config, extractor: this.extractor, queue: this.queue, importQueue: this.importQueue, ledger: this.ledger });
    }
    this.schedule = this.unloadRun && unloads(config.source) ? this.scheduleUnloadRun(config, this.unloadRun) : this.scheduleExtractor(config);

    if (config.reconcile) {
      this.reconcile = new Reconcile(this, "Reconcile", {
        config,
        settings: config.reconcile,
        queue: this.queue,
        ledger: this.ledger,
        credentialsSecret: this.credentialsSecret,
        scheduleDlq: this.scheduleDlq,
      });
    }

    if (config.watch?.enabled) {
      this.watch = new Watch(this, "Watch", { config, settings: config.watch, queue: this.queue, ledger: this.ledger, credentialsSecret: this.credentialsSecret });
    }
  }

  /**
   * The importer: import batches from its queue, at most two at once (Auth0 runs two import jobs of a tenant at a
   * time, and a third is refused), each followed to its end; users it cannot create go to the main queue.
   */
  private importerFor(config: SyncConfig, importQueue: sqs.Queue): SyncFunction {
    const fn = new SyncFunction(this, {
      name: "importer",
      config,
      timeout: Duration.seconds(IMPORTER_TIMEOUT_SECONDS),
      environment: {
        QUEUE_URL: this.queue.queueUrl,
        LEDGER_TABLE: this.ledger.tableName,
        ...(this.writesQueue ? { WRITES_QUEUE_URL: this.writesQueue.queueUrl } : {}),
        ...(config.auth0.credentialsSecretArn ? {} : { AUTH0_CREDENTIALS_SECRET_ARN: this.credentialsSecret.secretArn }),
      },
    });
    fn.addEventSource(new SqsEventSource(importQueue, { batchSize: 1, reportBatchItemFailures: true, maxConcurrency: MAX_ACTIVE_IMPORT_JOBS }));
    // SendMessageBatch (authorized as SendMessage): users handed to the per-user path; imported users' roles and
    // memberships to the writes queue (the importer's slot is one of Auth0's two jobs: it does not wait for them).
    this.queue.grant(fn, "sqs:SendMessage");
    this.writesQueue?.grant(fn, "sqs:SendMessage");
    this.ledger.grantImporter(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [this.credentialsSecret.secretArn] }));
    if (config.lambda.tracing) {
      Validations.of(fn.role).acknowledge({ id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason: "X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." });
    }
    return fn;
  }

  /** The Auth0 M2M credentials: the config's secret, or an empty one the operator fills. */
  private auth0Credentials(config: SyncConfig): secrets.ISecret {
    if (config.auth0.credentialsSecretArn) return secrets.Secret.fromSecretCompleteArn(this, "Auth0Credentials", config.auth0.credentialsSecretArn);
    const secret = new secrets.Secret(this, "Auth0Credentials", {
      description: `Auth0 M2M credentials for sync ${config.name}: fill with {"client_id":"...","client_secret":"..."}`,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason: "Auth0 client secrets are rotated in Auth0 (the M2M application's credentials), then pasted here; Secrets Manager cannot rotate them.",
    });
    return secret;
  }

  /** The extractor: the queue it fills, its ledger calls, and its source (the warehouse's Data API or a tenant's secrets). */
  private grantExtractor(config: SyncConfig): void {
    const fn = this.extractor;
    // SendMessageBatch (authorized as SendMessage) and the queue depth its admission reads.
    this.queue.grant(fn, "sqs:SendMessage", "sqs:GetQueueAttributes");
    // New users' import batches, and the import queue's depth (a run still importing is still draining).
    this.importQueue?.grant(fn, "sqs:SendMessage", "sqs:GetQueueAttributes");
    // The writes queue's depth: a run whose created users' roles are still to write is still draining.
    this.writesQueue?.grant(fn, "sqs:GetQueueAttributes");
    this.ledger.grantExtractor(fn);
    if (this.sourceTenant) {
      this.sourceTenant.grantRead(fn);
      if (config.lambda.tracing) {
        Validations.of(fn.role).acknowledge({ id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason: "X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." });
      }
    } else if (readsThroughDataApi(config.source)) grantWarehouseRead(fn, config);
    // (extract: unload: the state machine runs the statement, the extractor none. extract: auto with UNLOAD: the
    // extractor runs, describes and reads the measured query itself, as only a statement's owner may.)
  }

  /** The consumer: its ledger calls and the Auth0 credentials (the queue's come with its event source). */
  private grantConsumer(config: SyncConfig): void {
    const fn = this.consumer;
    this.ledger.grantConsumer(fn);
    // SendMessageBatch (authorized as SendMessage): created users' roles and memberships to the writes queue.
    this.writesQueue?.grant(fn, "sqs:SendMessage");
    // Powertools' getSecret reads the credentials with GetSecretValue only.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [this.credentialsSecret.secretArn] }));
    if (config.lambda.tracing) {
      Validations.of(fn.role).acknowledge({ id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason: "X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." });
    }
  }

  /** Starts the unload state machine on the configured schedule (a config that unloads), with the same retries and DLQ. */
  private scheduleUnloadRun(config: SyncConfig, run: UnloadRun): scheduler.Schedule {
    return new scheduler.Schedule(this, "Schedule", {
      schedule: scheduler.ScheduleExpression.expression(config.schedule),
      description: `Starts the Auth0 sync ${config.name} (a run over the unloaded table)`,
      target: new targets.StepFunctionsStartExecution(run.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({ source: "schedule" }),
        retryAttempts: 2,
        maxEventAge: Duration.minutes(15),
        deadLetterQueue: this.scheduleDlq,
      }),
    });
  }

  /** Invokes the extractor on the configured schedule, with its own dead-letter queue. */
  private scheduleExtractor(config: SyncConfig): scheduler.Schedule {
    return scheduleFunction(this, "Schedule", { fn: this.extractor, expression: config.schedule, description: `Starts the Auth0 sync ${config.name}`, deadLetterQueue: this.scheduleDlq, what: "the extractor" });
  }
}
