import { Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import type { SyncConfig } from "../functions/core/config.js";

export interface Auth0SyncStackProps extends StackProps {
  config: SyncConfig;
}

/**
 * The deployable stack. This foundation only validates the sync definition at synth time; the schedule,
 * Lambdas, queues, alarms and dashboard are added by the CDK issue (see README, "Status").
 */
export class Auth0SyncStack extends Stack {
  readonly config: SyncConfig;
  constructor(scope: Construct, id: string, props: Auth0SyncStackProps) {
    super(scope, id, props);
    this.config = props.config;
    this.templateOptions.description = `Auth0 <- Redshift user sync "${props.config.name}"`;
  }
}
