/**
 * The sync's queues: the main queue the extractor fills and the consumer drains, the import queue of new users'
 * import batches (a config that may import: docs/imports.md), the writes queue of created users' roles and
 * memberships (a config with roles or organizations: core/created-writes.ts), their shared dead-letter queue (which only they may
 * send to; a redrive moves everything to the main queue, where an import batch's users go the per-user way), and
 * the dead-letter queue of schedule invocations that could not be delivered.
 */
import { ArnFormat, Duration, Stack, Validations } from "aws-cdk-lib";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { SyncConfig } from "../functions/core/config.js";
import { defersCreatedWrites, WRITES_QUEUE_SUFFIX } from "../functions/core/created-writes.js";
import { bulkPolicy, IMPORTER_TIMEOUT_SECONDS } from "../functions/core/import-batches.js";

export interface SyncQueuesProps {
  config: SyncConfig;
}

export class SyncQueues extends Construct {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly scheduleDlq: sqs.Queue;
  /** With a config that may import new users (core/import-batches.ts bulkPolicy). */
  readonly importQueue?: sqs.Queue;
  /** With roles or organizations: created users' roles and memberships, grouped across invocations (core/created-writes.ts). */
  readonly writesQueue?: sqs.Queue;

  constructor(scope: Construct, id: string, props: SyncQueuesProps) {
    super(scope, id);
    const { config } = props;
    // Physical names: the DLQ's redriveAllowPolicy must name the main queue's ARN, which (through the redrive
    // policy) depends on the DLQ; a name known at synth breaks that cycle.
    const queueName = `auth0-sync-${config.name}`;
    this.dlq = new sqs.Queue(this, "DeadLetterQueue", {
      queueName: `${queueName}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, "Queue", {
      queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS: at least 6 x the function timeout, so a batch is never visible again while it is being worked on.
      visibilityTimeout: Duration.seconds(6 * config.queue.consumerTimeoutSeconds),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: config.queue.maxReceiveCount },
    });
    const sources = [queueName];
    if (bulkPolicy(config).kind === "bulk") {
      const importQueueName = `${queueName}-import`;
      sources.push(importQueueName);
      this.importQueue = new sqs.Queue(this, "ImportQueue", {
        queueName: importQueueName,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // At least the importer's timeout, with room for a throttled delivery; not AWS's usual 6 x: a job still
        // running when the importer's time is up (or two jobs of another client) is followed by the next delivery,
        // from the job id the ledger keeps, after this long, and the runs wait for it meanwhile.
        visibilityTimeout: Duration.seconds(2 * IMPORTER_TIMEOUT_SECONDS),
        retentionPeriod: Duration.days(4),
        deadLetterQueue: { queue: this.dlq, maxReceiveCount: config.queue.maxReceiveCount },
      });
    }
    if (defersCreatedWrites(config)) {
      const writesQueueName = `${queueName}${WRITES_QUEUE_SUFFIX}`;
      sources.push(writesQueueName);
      this.writesQueue = new sqs.Queue(this, "WritesQueue", {
        queueName: writesQueueName,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        // The consumer works on it too: 6 x its timeout, as the main queue.
        visibilityTimeout: Duration.seconds(6 * config.queue.consumerTimeoutSeconds),
        retentionPeriod: Duration.days(4),
        deadLetterQueue: { queue: this.dlq, maxReceiveCount: config.queue.maxReceiveCount },
      });
    }
    // Only the sync's queues may send to the DLQ (and so be the destination of a redrive).
    (this.dlq.node.defaultChild as sqs.CfnQueue).redriveAllowPolicy = {
      redrivePermission: "byQueue",
      sourceQueueArns: sources.map((resource) => Stack.of(this).formatArn({ service: "sqs", resource, arnFormat: ArnFormat.NO_RESOURCE_NAME })),
    };
    this.scheduleDlq = new sqs.Queue(this, "ScheduleDeadLetterQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    for (const q of [this.dlq, this.scheduleDlq]) {
      Validations.of(q).acknowledge({ id: "AwsSolutions-SQS3", reason: "This queue is itself a dead-letter queue." });
    }
  }
}
