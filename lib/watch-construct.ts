/**
 * The watch (config `watch`, docs/watch.md): Auth0's tenant logs, streamed to the partner event bus the customer
 * associated with Auth0's event source, filtered by a rule whose pattern is the core's (`watchEventPattern`, the
 * one the local bus applies too) into the watch queue, drained by the watch Lambda, which repairs another client's
 * edits of managed users through the sync's main queue. IAM for exactly the calls its handler
 * (functions/watch/handler.ts) makes.
 *
 * The stack does not create the event bus: Auth0 creates the partner event source, and the customer associates it
 * with an event bus of the same name (console or CLI) before deploying.
 */
import { ArnFormat, Duration, Stack, Validations } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as eventsTargets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type * as secrets from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { SyncConfig } from "../functions/core/config.js";
import { WATCH_DELIVERY, watchEventPattern, type WatchEventPattern } from "../functions/core/watch.js";
import type { LedgerTable } from "./ledger-table.js";
import { SyncFunction } from "./sync-function.js";

export type WatchSettings = NonNullable<SyncConfig["watch"]>;

/** After the sync's queue's name: `auth0-sync-<name>-watch` and its DLQ `auth0-sync-<name>-watch-dlq`. */
export const WATCH_QUEUE_SUFFIX = "-watch";

export interface WatchProps {
  config: SyncConfig;
  settings: WatchSettings;
  /** The sync's main queue: repairs go there as sync operations. */
  queue: sqs.IQueue;
  ledger: LedgerTable;
  credentialsSecret: secrets.ISecret;
}

/**
 * The core's pattern as CDK's EventPattern, unchanged: CDK types `source` as strings, but EventBridge (and CDK's
 * rendering, which copies each field) takes content filters there as anywhere else.
 */
export function toEventPattern(pattern: WatchEventPattern): events.EventPattern {
  return { source: pattern.source as unknown as string[], detail: pattern.detail };
}

export class Watch extends Construct {
  readonly bus: events.IEventBus;
  readonly rule: events.Rule;
  readonly queue: sqs.Queue;
  /** Events the watch failed WATCH_DELIVERY.maxReceiveCount times, and events EventBridge could not deliver to the queue. */
  readonly dlq: sqs.Queue;
  readonly fn: SyncFunction;
  readonly settings: WatchSettings;

  constructor(scope: Construct, id: string, props: WatchProps) {
    super(scope, id);
    const { config, settings } = props;
    this.settings = settings;
    // Config validation refuses an enabled watch without it.
    const ownClientId = config.auth0.clientId;
    if (!ownClientId) throw new Error("The watch needs auth0.clientId: its rule ignores the sync's own writes.");

    // Physical names, as the sync's other queues: the DLQ's redriveAllowPolicy names the watch queue's ARN, which
    // (through its redrive policy) depends on the DLQ; a name known at synth breaks that cycle.
    const queueName = `auth0-sync-${config.name}${WATCH_QUEUE_SUFFIX}`;
    this.dlq = new sqs.Queue(this, "DeadLetterQueue", {
      queueName: `${queueName}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // Only the watch queue may use it as its DLQ (not the sync's queues: a redrive of the sync's DLQ never mixes
    // log events with users).
    (this.dlq.node.defaultChild as sqs.CfnQueue).redriveAllowPolicy = {
      redrivePermission: "byQueue",
      sourceQueueArns: [Stack.of(this).formatArn({ service: "sqs", resource: queueName, arnFormat: ArnFormat.NO_RESOURCE_NAME })],
    };
    Validations.of(this.dlq).acknowledge({ id: "AwsSolutions-SQS3", reason: "This queue is itself a dead-letter queue." });
    this.queue = new sqs.Queue(this, "Queue", {
      queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS: at least 6 x the function timeout, so a batch is never visible again while it is being worked on.
      visibilityTimeout: Duration.seconds(6 * WATCH_DELIVERY.timeoutSeconds),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: WATCH_DELIVERY.maxReceiveCount },
    });

    // The partner event bus has the event source's name.
    this.bus = events.EventBus.fromEventBusName(this, "Bus", settings.eventSource);
    this.rule = new events.Rule(this, "Rule", {
      eventBus: this.bus,
      description: `Auth0 ${config.auth0.domain}: other clients' Management API writes to users, for the watch of sync ${config.name}`,
      // The one pattern (core/watch.ts): the local bus applies the same.
      eventPattern: toEventPattern(watchEventPattern([ownClientId, ...settings.ignoreClients])),
    });
    // The whole event (Auth0's log is its detail); the target's queue policy lets events.amazonaws.com send from
    // this rule only. Events EventBridge cannot deliver after its retries go to the watch's DLQ (same body).
    this.rule.addTarget(new eventsTargets.SqsQueue(this.queue, { deadLetterQueue: this.dlq }));

    this.fn = new SyncFunction(this, {
      name: "watch",
      config,
      timeout: Duration.seconds(WATCH_DELIVERY.timeoutSeconds),
      environment: {
        QUEUE_URL: props.queue.queueUrl,
        LEDGER_TABLE: props.ledger.tableName,
        ...(config.auth0.credentialsSecretArn ? {} : { AUTH0_CREDENTIALS_SECRET_ARN: props.credentialsSecret.secretArn }),
      },
    });
    this.fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: WATCH_DELIVERY.batchSize,
        maxBatchingWindow: Duration.seconds(WATCH_DELIVERY.windowSeconds),
        reportBatchItemFailures: true,
        maxConcurrency: WATCH_DELIVERY.concurrency,
      }),
    );
    this.grant(props);
  }

  /** Exactly the calls the handler makes (the watch queue's come with its event source). */
  private grant(props: WatchProps): void {
    const fn = this.fn;
    // The fight cap's history, its record, the edited users' entries, and the users index.
    props.ledger.grantWatch(fn);
    // Repairs: SendMessageBatch, authorized as SendMessage.
    props.queue.grant(fn, "sqs:SendMessage");
    // Powertools' getSecret reads the Auth0 credentials with GetSecretValue only.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [props.credentialsSecret.secretArn] }));
    if (props.config.lambda.tracing) {
      Validations.of(fn.role).acknowledge({ id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason: "X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." });
    }
  }
}
