import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { configHash, type SyncConfig } from "../functions/core/config.js";
import { Observability } from "./observability/index.js";
import { Pipeline } from "./pipeline.js";

export interface Auth0SyncStackProps extends StackProps {
  config: SyncConfig;
}

/** Everything one sync needs: the pipeline (schedule, Lambdas, queues, secrets, IAM) and its observability. */
export class Auth0SyncStack extends Stack {
  readonly pipeline: Pipeline;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: Auth0SyncStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.templateOptions.description = `Auth0 <- Redshift user sync "${config.name}"`;
    this.pipeline = new Pipeline(this, "Pipeline", { config });
    this.observability = new Observability(this, "Observability", { config, pipeline: this.pipeline });

    const out = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    const p = this.pipeline;
    out("QueueUrl", p.queue.queueUrl, "Main queue URL");
    out("QueueArn", p.queue.queueArn, "Main queue ARN");
    out("DeadLetterQueueUrl", p.dlq.queueUrl, "DLQ URL");
    out("DeadLetterQueueArn", p.dlq.queueArn, "DLQ ARN (redrive source)");
    out("ScheduleDeadLetterQueueUrl", p.scheduleDlq.queueUrl, "Schedule invocations that could not be delivered");
    out("ExtractorFunctionName", p.extractor.functionName, "Extractor Lambda");
    out("ConsumerFunctionName", p.consumer.functionName, "Consumer Lambda");
    if (p.importQueue && p.importer) {
      out("ImportQueueUrl", p.importQueue.queueUrl, "Import batches of new users (create.bulk, docs/imports.md)");
      out("ImporterFunctionName", p.importer.functionName, "Importer Lambda (Auth0 import jobs)");
    }
    if (p.watch) {
      out("WatchQueueUrl", p.watch.queue.queueUrl, "Tenant log events for the watch (config watch, docs/watch.md)");
      out("WatchDlqUrl", p.watch.dlq.queueUrl, "Watch events that failed, or EventBridge could not deliver (redrive to the watch queue)");
      out("WatchFunctionName", p.watch.fn.functionName, "Watch Lambda (repairs other clients' edits of managed users)");
    }
    if (p.reconcile) out("ReconcileFunctionName", p.reconcile.fn.functionName, "Reconcile Lambda (config reconcile)");
    if (p.unloadRun) {
      out("UnloadBucketName", p.unloadRun.bucket.bucketName, "Where UNLOAD writes the run's files (source.unload)");
      out("UnloadStateMachineArn", p.unloadRun.stateMachine.stateMachineArn, "A run over the unloaded table (source.unload)");
    }
    out("LedgerTableName", p.ledger.tableName, "Sync ledger (DynamoDB)");
    out("CredentialsSecretArn", p.credentialsSecret.secretArn, "Auth0 M2M credentials secret");
    if (p.sourceTenant) {
      out("SourceCredentialsSecretArn", p.sourceTenant.credentialsSecret.secretArn, "Source tenant M2M credentials secret (tenant copy)");
      out("PseudonymKeySecretArn", p.sourceTenant.keySecret.secretArn, "Pseudonymisation key secret (tenant copy)");
    }
    out("AlarmTopicArn", this.observability.topic.topicArn, "SNS topic of the alarms");
    out("AlarmNamePrefix", this.observability.alarmNamePrefix, "Every alarm's name starts with this");
    out("ConfigHash", configHash(config), "Hash of the deployed sync config (the CLI compares it with its --config)");
    out(
      "DashboardUrl",
      `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.observability.dashboard.dashboardName}`,
      "CloudWatch dashboard",
    );
  }
}
