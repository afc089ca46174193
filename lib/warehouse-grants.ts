/**
 * What reading the warehouse through the Redshift Data API needs (RedshiftSource, functions/adapters/redshift):
 * the extractor reads the rows, the reconcile reads them to know which Auth0 users a row claims (by key or email).
 */
import { ArnFormat, Stack, Token, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { warehouseOf, type SyncConfig } from "../functions/core/config.js";
import type { SyncFunction } from "./sync-function.js";

export function grantWarehouseRead(fn: SyncFunction, config: SyncConfig): void {
  grantStatementCalls(fn.role, config, ["redshift-data:ExecuteStatement"], ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"]);
  Validations.of(fn.role).acknowledge({
    id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    reason:
      "DescribeStatement and GetStatementResult take no resource ARN; the statement-owner condition limits them to this role's own statements." +
      (config.lambda.tracing ? " X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." : ""),
  });
}

/**
 * A role's Data API calls: `execute` on the warehouse (the cluster, or the workgroup), `own` on its own statements
 * (no resource ARN: the statement-owner condition), and the database credentials the Data API takes with the
 * caller's permissions (the secret, or a serverless workgroup's temporary credentials).
 */
export function grantStatementCalls(role: iam.IRole, config: SyncConfig, execute: string[], own: string[]): void {
  const stack = Stack.of(role);
  const src = warehouseOf(config);
  const dataTarget = src.clusterIdentifier
    ? stack.formatArn({ service: "redshift", resource: "cluster", resourceName: src.clusterIdentifier, arnFormat: ArnFormat.COLON_RESOURCE_NAME })
    : (src.workgroupArn ?? stack.formatArn({ service: "redshift-serverless", resource: "workgroup", resourceName: "*" }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: execute, resources: [dataTarget] }));
  // The Data API's statement calls have no resource; the condition limits them to statements this role ran.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: own,
      resources: ["*"],
      conditions: { StringEquals: { "redshift-data:statement-owner-iam-userid": "${aws:userid}" } },
    }),
  );
  if (src.secretArn) {
    // The Data API reads the secret with the caller's permissions: GetSecretValue only (AWS's data-api-iam page).
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [src.secretArn] }));
  } else if (src.workgroupName) {
    // Serverless without a secret: temporary IAM database credentials for this role.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["redshift-serverless:GetCredentials"], resources: [dataTarget] }));
  }
  if (src.workgroupName && !src.workgroupArn) {
    Validations.of(role).acknowledge({
      // cdk-nag names the resource as the template has it: pseudo parameters as <AWS::...>, literals as they are.
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:redshift-serverless:${Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region}:${Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account}:workgroup/*]`,
      reason: "A workgroup ARN carries an id the config does not name; it is limited to this account and region. Set source.workgroupArn to scope it to one workgroup.",
    });
  }
}
