/**
 * The reconcile (config `reconcile`, issue 14): a Lambda that reads the whole tenant through a users-export job,
 * compares it with the ledger, seeds the ledger and sends repairs to the sync's queue; its own schedule; and IAM
 * for exactly the calls its handler (functions/reconcile/handler.ts) makes.
 */
import { ArnFormat, Duration, Stack, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import type * as secrets from "aws-cdk-lib/aws-secretsmanager";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { SyncConfig } from "../functions/core/config.js";
import type { LedgerTable } from "./ledger-table.js";
import { SyncFunction } from "./sync-function.js";
import { grantWarehouseRead } from "./warehouse-grants.js";
import { scheduleFunction } from "./function-schedule.js";

export type ReconcileSettings = NonNullable<SyncConfig["reconcile"]>;

export interface ReconcileProps {
  config: SyncConfig;
  settings: ReconcileSettings;
  /** The sync's queue: repairs go there as sync operations. */
  queue: sqs.IQueue;
  ledger: LedgerTable;
  credentialsSecret: secrets.ISecret;
  /** Schedule invocations that could not be delivered (shared with the extractor's schedule). */
  scheduleDlq: sqs.IQueue;
}

/** Lambda's limit on a function name. */
const MAX_FUNCTION_NAME = 64;

export class Reconcile extends Construct {
  readonly fn: SyncFunction;
  /** `<stack name>-reconcile`: known at synth, so the function's own ARN needs no reference to it. */
  readonly functionName: string;
  readonly schedule: scheduler.Schedule;
  readonly settings: ReconcileSettings;

  constructor(scope: Construct, id: string, props: ReconcileProps) {
    super(scope, id);
    const { config, settings } = props;
    this.settings = settings;
    this.functionName = `${Stack.of(this).stackName}-reconcile`;
    if (this.functionName.length > MAX_FUNCTION_NAME) {
      throw new Error(`The reconcile's function name ${this.functionName} is longer than ${MAX_FUNCTION_NAME} characters: use a shorter stack name.`);
    }
    this.fn = new SyncFunction(this, {
      name: "reconcile",
      config,
      // An export outlasting one invocation is continued by the next (the handler invokes itself).
      timeout: Duration.minutes(15),
      functionName: this.functionName,
      // One reconcile at a time: a continuation waits (throttled, retried by Lambda's async queue) for the running one.
      reservedConcurrentExecutions: 1,
      environment: {
        QUEUE_URL: props.queue.queueUrl,
        LEDGER_TABLE: props.ledger.tableName,
        ...(config.auth0.credentialsSecretArn ? {} : { AUTH0_CREDENTIALS_SECRET_ARN: props.credentialsSecret.secretArn }),
      },
    });
    this.grant(props);
    this.schedule = this.scheduleReconcile(props);
  }

  /** Exactly the calls the handler makes (test/lib/iam-coverage.test.ts). */
  private grant(props: ReconcileProps): void {
    const fn = this.fn;
    const stack = Stack.of(this);
    // getMany, putMany, delete, entries, and the reconcile's job and record items.
    props.ledger.grantReconcile(fn);
    // Repairs: SendMessageBatch, authorized as SendMessage; the queue's depth, read before a reconcile starts.
    props.queue.grant(fn, "sqs:SendMessage", "sqs:GetQueueAttributes");
    // Powertools' getSecret reads the Auth0 credentials with GetSecretValue only.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [props.credentialsSecret.secretArn] }));
    // continueLater: an asynchronous invoke of this very function (its unqualified ARN, from the name: a reference
    // to the function would make its role's policy depend on the function, which depends on the policy).
    const self = stack.formatArn({ service: "lambda", resource: "function", resourceName: this.functionName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["lambda:InvokeFunction"], resources: [self] }));
    if (props.config.source.type === "redshift") {
      // Only users a row claims are adopted (by key, or by email for users with no sync key): the warehouse is read
      // as the extractor reads it (the acknowledgement there covers X-Ray too).
      grantWarehouseRead(fn, props.config);
    } else if (props.config.lambda.tracing) {
      Validations.of(fn.role).acknowledge({ id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason: "X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." });
    }
  }

  /** Invokes the reconcile on its own schedule, with the schedule dead-letter queue. */
  private scheduleReconcile(props: ReconcileProps): scheduler.Schedule {
    return scheduleFunction(this, "Schedule", { fn: this.fn, expression: this.settings.schedule, description: `Starts the reconcile of the Auth0 sync ${props.config.name}`, deadLetterQueue: props.scheduleDlq, what: "the reconcile" });
  }
}
