/**
 * A run over an unloaded table (source.extract: unload; docs/scaling.md): the bucket UNLOAD writes to (or the
 * config's), the segment worker Lambda, and the Standard state machine whose definition is the core's
 * (functions/core/unload-state-machine.ts, the one the local run executes too). Each role holds exactly what its
 * code calls: the state machine invokes the two functions, runs and describes the UNLOAD statement, reads the Map's
 * items and starts its own child executions; the segment worker reads the files and writes its keys file; the
 * extractor reads the manifest and writes the Map's items.
 */
import { ArnFormat, type CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as sfn from "aws-cdk-lib/aws-stepfunctions";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { warehouseOf, type SyncConfig } from "../functions/core/config.js";
import { UNLOAD_RUN_TIMEOUT_SECONDS, measureOf } from "../functions/core/extract-config.js";
import { unloadStateMachineDefinition } from "../functions/core/unload-state-machine.js";
import type { LedgerTable } from "./ledger-table.js";
import { SyncFunction } from "./sync-function.js";
import { grantStatementCalls } from "./warehouse-grants.js";

export interface UnloadRunProps {
  config: SyncConfig;
  extractor: SyncFunction;
  queue: sqs.IQueue;
  /** With a config that may import new users: where a segment sends its import batches. */
  importQueue?: sqs.IQueue;
  ledger: LedgerTable;
}

export class UnloadRun extends Construct {
  readonly bucket: s3.IBucket;
  readonly segment: SyncFunction;
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: UnloadRunProps) {
    super(scope, id);
    const { config, extractor } = props;
    const src = warehouseOf(config);
    const unload = src.unload;
    if (!unload) throw new Error("UnloadRun needs source.unload");
    const stack = Stack.of(this);

    this.bucket = unload.bucket ? s3.Bucket.fromBucketName(this, "Bucket", unload.bucket) : this.makeBucket();
    const files = this.bucket.arnForObjects(`${unload.prefix}${config.name}/*`);

    this.segment = new SyncFunction(this, {
      name: "segment",
      config,
      // A segment is one file of at most MAXFILESIZE: well inside Lambda's 15 minutes at the bench's rows/s.
      timeout: Duration.minutes(15),
      environment: { QUEUE_URL: props.queue.queueUrl, LEDGER_TABLE: props.ledger.tableName, ...(props.importQueue ? { IMPORT_QUEUE_URL: props.importQueue.queueUrl } : {}) },
    });
    // The file (HeadObject and ranged GETs are s3:GetObject), its keys file, the queue and the ledger.
    this.segment.addToRolePolicy(new iam.PolicyStatement({ actions: ["s3:GetObject"], resources: [files] }));
    this.segment.addToRolePolicy(new iam.PolicyStatement({ actions: ["s3:PutObject"], resources: [this.bucket.arnForObjects(`${unload.prefix}${config.name}/*/keys/*`)] }));
    // SendMessageBatch is authorized as SendMessage (grantSendMessages would add GetQueueAttributes/GetQueueUrl).
    props.queue.grant(this.segment, "sqs:SendMessage");
    props.importQueue?.grant(this.segment, "sqs:SendMessage");
    props.ledger.grantSegment(this.segment);
    // The extractor's steps: the manifest and the keys files read, the Map's items written.
    extractor.addToRolePolicy(new iam.PolicyStatement({ actions: ["s3:GetObject", "s3:PutObject"], resources: [files] }));
    extractor.addEnvironment("UNLOAD_BUCKET", this.bucket.bucketName);

    const name = `${config.name}-unload-run`;
    const logGroup = new logs.LogGroup(this, "Logs", { retention: config.lambda.logRetentionDays as logs.RetentionDays, removalPolicy: RemovalPolicy.DESTROY });
    const definition = unloadStateMachineDefinition({
      extractorArn: extractor.functionArn,
      segmentArn: this.segment.functionArn,
      bucket: this.bucket.bucketName,
      database: src.database,
      workgroupName: src.workgroupName,
      clusterIdentifier: src.clusterIdentifier,
      secretArn: src.secretArn,
      maxConcurrency: unload.maxConcurrency,
      pollSeconds: 10,
      autoDataApiMaxBytes: measureOf(src),
    });
    this.stateMachine = new sfn.StateMachine(this, "StateMachine", {
      stateMachineName: name,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(definition)),
      timeout: Duration.seconds(UNLOAD_RUN_TIMEOUT_SECONDS),
      tracingEnabled: config.lambda.tracing,
      // Every event, without its data: the states' inputs and outputs name keys and statements.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const role = this.stateMachine.role;
    extractor.grantInvoke(role);
    this.segment.grantInvoke(role);
    // The UNLOAD statement through the Data API's SDK integrations, as the extractor's own statements.
    grantStatementCalls(role, config, ["redshift-data:ExecuteStatement"], ["redshift-data:DescribeStatement"]);
    // The Map's ItemReader, and the Distributed Map's child executions of this state machine.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["s3:GetObject"], resources: [files] }));
    const machineArn = stack.formatArn({ service: "states", resource: "stateMachine", resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const executions = stack.formatArn({ service: "states", resource: "execution", resourceName: `${name}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["states:StartExecution"], resources: [machineArn] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["states:DescribeExecution", "states:StopExecution"], resources: [executions] }));
    // cdk-nag names each wildcard resource as the template has it: a token as <LogicalId.Arn>, pseudo parameters as <AWS::...>.
    const arnOf = (c: Construct) => `<${stack.getLogicalId(c.node.defaultChild as CfnElement)}.Arn>`;
    const bucketArn = unload.bucket ? `arn:<AWS::Partition>:s3:::${unload.bucket}` : arnOf(this.bucket);
    const filesNag = `${bucketArn}/${unload.prefix}${config.name}/*`;
    const iam5 = (scopeOf: Construct, resources: string[], reason: string) => {
      for (const r of resources) Validations.of(scopeOf).acknowledge({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${r}]`, reason });
    };
    const perRun = "The unloaded files, the manifest, the Map's items and the keys files are named per run under this sync's prefix.";
    iam5(role, [filesNag], perRun);
    iam5(role, [`${arnOf(extractor)}:*`, `${arnOf(this.segment)}:*`], "CDK's grantInvoke includes the functions' versions and aliases; these two functions only.");
    iam5(role, [`arn:<AWS::Partition>:states:${Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region}:${Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account}:execution:${name}/*`], "The Distributed Map's child executions of this state machine, named by Step Functions.");
    iam5(role, ["*"], "DescribeStatement takes no resource ARN (the statement-owner condition limits it to this role's statements); X-Ray and log delivery take none.");
    iam5(this.segment.role, [filesNag, `${bucketArn}/${unload.prefix}${config.name}/*/keys/*`], perRun);
    if (config.lambda.tracing) iam5(this.segment.role, ["*"], "X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN.");
    iam5(extractor.role, [filesNag], perRun);
    if (!config.lambda.tracing) {
      Validations.of(this.stateMachine).acknowledge({ id: "AwsSolutions-SF2", reason: "X-Ray tracing follows lambda.tracing, off in this config (the functions' traces are off too)." });
    }
  }

  /** The stack's bucket: encrypted, SSL only, no public access, unloaded files (personal data) gone within a day. */
  private makeBucket(): s3.Bucket {
    const bucket = new s3.Bucket(this, "Bucket", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // The files hold personal data: a run reads them within hours, S3 deletes them the next day.
      lifecycleRules: [{ id: "unloaded-files-expire", expiration: Duration.days(1), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(bucket).acknowledge({ id: "AwsSolutions-S1", reason: "The bucket holds files for a day and only the stack's roles and Redshift's read or write them; CloudTrail data events can log access if wanted." });
    return bucket;
  }
}
