/**
 * What reading the warehouse through the Redshift Data API needs (RedshiftSource, functions/adapters/redshift):
 * the extractor reads the rows, the reconcile reads them to know which Auth0 users a row claims (by key or email).
 */
import { ArnFormat, Stack, Token, Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { warehouseOf, type SyncConfig } from "../functions/core/config.js";
import type { SyncFunction } from "./sync-function.js";

export function grantWarehouseRead(fn: SyncFunction, config: SyncConfig): void {
  const stack = Stack.of(fn);
  const src = warehouseOf(config);
  const dataTarget = src.clusterIdentifier
    ? stack.formatArn({ service: "redshift", resource: "cluster", resourceName: src.clusterIdentifier, arnFormat: ArnFormat.COLON_RESOURCE_NAME })
    : (src.workgroupArn ?? stack.formatArn({ service: "redshift-serverless", resource: "workgroup", resourceName: "*" }));
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["redshift-data:ExecuteStatement"], resources: [dataTarget] }));
  // The Data API's statement calls have no resource; the condition limits them to statements this role ran.
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"],
      resources: ["*"],
      conditions: { StringEquals: { "redshift-data:statement-owner-iam-userid": "${aws:userid}" } },
    }),
  );
  if (src.secretArn) {
    // The Data API reads the secret with the caller's permissions: GetSecretValue only (AWS's data-api-iam page).
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [src.secretArn] }));
  } else if (src.workgroupName) {
    // Serverless without a secret: temporary IAM database credentials for this role.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["redshift-serverless:GetCredentials"], resources: [dataTarget] }));
  }
  Validations.of(fn.role).acknowledge({
    id: "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    reason:
      "DescribeStatement and GetStatementResult take no resource ARN; the statement-owner condition limits them to this role's own statements." +
      (config.lambda.tracing ? " X-Ray PutTraceSegments/PutTelemetryRecords take no resource ARN." : ""),
  });
  if (src.workgroupName && !src.workgroupArn) {
    Validations.of(fn.role).acknowledge({
      // cdk-nag names the resource as the template has it: pseudo parameters as <AWS::...>, literals as they are.
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:redshift-serverless:${Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region}:${Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account}:workgroup/*]`,
      reason: "A workgroup ARN carries an id the config does not name; it is limited to this account and region. Set source.workgroupArn to scope it to one workgroup.",
    });
  }
}
