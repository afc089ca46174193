/**
 * The moving parts: the schedule, the extractor and consumer Lambdas, the queue and its DLQ, the secrets, and
 * least-privilege IAM for each.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as targets from "aws-cdk-lib/aws-scheduler-targets";
import * as secrets from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { consumerBudget, type SyncConfig } from "../functions/core/config.js";
import { LEDGER_PARTITION_KEY, RUNS_INDEX } from "../functions/core/ledger-keys.js";
import { METRICS_NAMESPACE } from "../functions/core/metrics.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface PipelineProps {
  config: SyncConfig;
}

export class Pipeline extends Construct {
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly scheduleDlq: sqs.Queue;
  readonly extractor: NodejsFunction;
  readonly consumer: NodejsFunction;
  readonly schedule: scheduler.Schedule;
  readonly credentialsSecret: secrets.ISecret;
  readonly ledger: dynamodb.TableV2;
  readonly maxConcurrency: number;
  readonly roles: Partial<Record<"extractor" | "consumer", iam.Role>> = {};

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    const { config } = props;
    const stack = Stack.of(this);
    const consumerTimeout = Duration.seconds(config.queue.consumerTimeoutSeconds);
    const budget = consumerBudget(config);
    this.maxConcurrency = budget.maxConcurrency;

    // ---- queues ----
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
    // Only the main queue may send to the DLQ (and so be the destination of a redrive).
    (this.dlq.node.defaultChild as sqs.CfnQueue).redriveAllowPolicy = {
      redrivePermission: "byQueue",
      sourceQueueArns: [stack.formatArn({ service: "sqs", resource: queueName, arnFormat: ArnFormat.NO_RESOURCE_NAME })],
    };
    this.scheduleDlq = new sqs.Queue(this, "ScheduleDeadLetterQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    for (const q of [this.dlq, this.scheduleDlq]) {
      Validations.of(q).acknowledge({ id: "AwsSolutions-SQS3", reason: "This queue is itself a dead-letter queue." });
    }

    // ---- ledger ----
    this.ledger = new dynamodb.TableV2(this, "Ledger", {
      partitionKey: { name: LEDGER_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      // Sparse: only run items carry the index key, so `status` reads the last runs without a scan.
      globalSecondaryIndexes: [
        {
          indexName: RUNS_INDEX.name,
          partitionKey: { name: RUNS_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: RUNS_INDEX.sortKey, type: dynamodb.AttributeType.STRING },
        },
      ],
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: config.ledger.deletionProtection,
      removalPolicy: config.ledger.deletionProtection ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    // ---- secrets ----
    this.credentialsSecret = config.auth0.credentialsSecretArn
      ? secrets.Secret.fromSecretCompleteArn(this, "Auth0Credentials", config.auth0.credentialsSecretArn)
      : new secrets.Secret(this, "Auth0Credentials", {
          description: `Auth0 M2M credentials for sync ${config.name}: fill with {"client_id":"...","client_secret":"..."}`,
          removalPolicy: RemovalPolicy.RETAIN,
        });
    if (!config.auth0.credentialsSecretArn) {
      Validations.of(this.credentialsSecret).acknowledge({
        id: "AwsSolutions-SMG4",
        reason: "Auth0 client secrets are rotated in Auth0 (the M2M application's credentials), then pasted here; Secrets Manager cannot rotate them.",
      });
    }

    // ---- functions ----
    const common = (name: "extractor" | "consumer", timeout: Duration) => {
      const logGroup = new logs.LogGroup(this, `${name}-logs`, {
        retention: config.lambda.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new iam.Role(this, `${name}-role`, {
        assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
        description: `auth0-sync ${config.name} ${name}`,
      });
      // Its own log group only, instead of the AWSLambdaBasicExecutionRole managed policy (logs on *).
      logGroup.grantWrite(role);
      const fn = new NodejsFunction(this, name, {
        entry: join(ROOT, "functions", name, "handler.ts"),
        handler: "handler",
        projectRoot: ROOT,
        depsLockFilePath: join(ROOT, "package-lock.json"),
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: config.lambda.memoryMb,
        timeout,
        role,
        logGroup,
        tracing: config.lambda.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
        environment: {
          POWERTOOLS_SERVICE_NAME: `${config.name}-${name}`,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          POWERTOOLS_LOG_LEVEL: "INFO",
          NODE_OPTIONS: "--enable-source-maps",
        },
        bundling: {
          format: OutputFormat.ESM,
          target: "node24",
          minify: true,
          sourceMap: true,
          mainFields: ["module", "main"],
          // CommonJS dependencies inside an ESM bundle still call require().
          banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
          // The config validated at synth, embedded: no 4 KB environment limit, no file to ship.
          define: { __SYNC_CONFIG__: JSON.stringify(JSON.stringify(config)) },
        },
      });
      this.roles[name] = role;
      return fn;
    };

    this.extractor = common("extractor", Duration.seconds(config.lambda.extractorTimeoutSeconds));
    this.extractor.addEnvironment("QUEUE_URL", this.queue.queueUrl);
    this.extractor.addEnvironment("LEDGER_TABLE", this.ledger.tableName);
    this.consumer = common("consumer", consumerTimeout);
    this.consumer.addEnvironment("LEDGER_TABLE", this.ledger.tableName);
    if (!config.auth0.credentialsSecretArn) this.consumer.addEnvironment("AUTH0_CREDENTIALS_SECRET_ARN", this.credentialsSecret.secretArn);
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

    // ---- IAM ----
    // Exactly the calls each handler makes (test/lib/iam-coverage.test.ts records them through the local pipeline
    // and checks each against these roles, and that no action here goes unused).
    // Extractor: SendMessageBatch (authorized as SendMessage) and the queue depth its admission reads.
    this.queue.grant(this.extractor, "sqs:SendMessage", "sqs:GetQueueAttributes");
    // Exact actions on the table only (not its index, which only the operator's `status` queries).
    const ledgerAccess = (fn: NodejsFunction, actions: string[]) =>
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [this.ledger.tableArn] }));
    // Extractor: read entries (unchanged rows by lookup or Scan, sized by DescribeTable; mirror mode), take and
    // release the run lock (a conditional UpdateItem; GetItem names the run holding it), write its run item.
    ledgerAccess(this.extractor, ["BatchGetItem", "GetItem", "Scan", "DescribeTable", "UpdateItem"]);
    // Consumer: read entries, write them (PutItem; DeleteItem after a mirror delete), record reasons and add to
    // its run's counts (UpdateItem).
    ledgerAccess(this.consumer, ["BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"]);
    // Powertools' getSecret reads the credentials with GetSecretValue only.
    this.consumer.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [this.credentialsSecret.secretArn] }));
    const src = config.source;
    const dataTarget = src.clusterIdentifier
      ? stack.formatArn({ service: "redshift", resource: "cluster", resourceName: src.clusterIdentifier, arnFormat: ArnFormat.COLON_RESOURCE_NAME })
      : (src.workgroupArn ?? stack.formatArn({ service: "redshift-serverless", resource: "workgroup", resourceName: "*" }));
    this.extractor.addToRolePolicy(new iam.PolicyStatement({ actions: ["redshift-data:ExecuteStatement"], resources: [dataTarget] }));
    // The Data API's statement calls have no resource; the condition limits them to statements this role ran.
    this.extractor.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"],
        resources: ["*"],
        conditions: { StringEquals: { "redshift-data:statement-owner-iam-userid": "${aws:userid}" } },
      }),
    );
    if (src.secretArn) {
      // The Data API reads the secret with the caller's permissions: GetSecretValue only (AWS's data-api-iam page).
      this.extractor.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [src.secretArn] }));
    } else if (src.workgroupName) {
      // Serverless without a secret: temporary IAM database credentials for this role.
      this.extractor.addToRolePolicy(new iam.PolicyStatement({ actions: ["redshift-serverless:GetCredentials"], resources: [dataTarget] }));
    }
    Validations.of(this.roles.extractor!).acknowledge({
      id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
      reason:
        "DescribeStatement and GetStatementResult take no resource ARN; the statement-owner condition limits them to this role's own statements." +
        (config.lambda.tracing ? " X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." : ""),
    });
    if (src.workgroupName && !src.workgroupArn) {
      Validations.of(this.roles.extractor!).acknowledge({
        // cdk-nag names the resource as the template has it: pseudo parameters as <AWS::...>, literals as they are.
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:redshift-serverless:${Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region}:${Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account}:workgroup/*]`,
        reason: "A workgroup ARN carries an id the config does not name; it is limited to this account and region. Set source.workgroupArn to scope it to one workgroup.",
      });
    }
    if (config.lambda.tracing) {
      Validations.of(this.roles.consumer!).acknowledge({ id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason: "X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." });
    }

    // ---- schedule ----
    this.schedule = new scheduler.Schedule(this, "Schedule", {
      schedule: scheduler.ScheduleExpression.expression(config.schedule),
      description: `Starts the Auth0 sync ${config.name}`,
      target: new targets.LambdaInvoke(this.extractor, {
        input: scheduler.ScheduleTargetInput.fromObject({ source: "schedule" }),
        // A run that cannot start soon is better skipped than piled up: the next period brings a fresh one.
        retryAttempts: 2,
        maxEventAge: Duration.minutes(15),
        deadLetterQueue: this.scheduleDlq,
      }),
    });
    Validations.of(stack).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.extractor.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason: "The scheduler's role may invoke the extractor's versions and aliases (CDK's LambdaInvoke target); it is this one function only.",
    });
  }
}
