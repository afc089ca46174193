/**
 * Finding a deployed stack: its resources (queues, the extractor, the ledger table...) from its CloudFormation
 * outputs, refused in one sentence when the stack is missing or is not an auth0-sync stack.
 */
import { DescribeStacksCommand, type CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { explainAwsError } from "./aws-clients.js";
import { CliError } from "./target.js";

export interface StackResources {
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
  extractorFunctionName: string;
  ledgerTableName: string;
  credentialsSecretArn?: string;
  dashboardUrl?: string;
  alarmNamePrefix?: string;
  configHash?: string;
  /** A tenant copy's secrets (outputs SourceCredentialsSecretArn, PseudonymKeySecretArn). */
  sourceCredentialsSecretArn?: string;
  pseudonymKeySecretArn?: string;
  /** The reconcile function, when the config has `reconcile` (output ReconcileFunctionName). */
  reconcileFunctionName?: string;
  /** A config that unloads: the state machine a run is an execution of (output UnloadStateMachineArn). */
  unloadStateMachineArn?: string;
}

const REQUIRED = {
  QueueUrl: "queueUrl",
  QueueArn: "queueArn",
  DeadLetterQueueUrl: "dlqUrl",
  DeadLetterQueueArn: "dlqArn",
  ExtractorFunctionName: "extractorFunctionName",
  LedgerTableName: "ledgerTableName",
} as const;

/** The stack's region (the client's, else `regionHint`) and resources, read with one DescribeStacks. */
export async function findStack(cloudformation: CloudFormationClient, stackName: string, regionHint?: string): Promise<{ region: string; resources: StackResources }> {
  let region = regionHint ?? "";
  try {
    region = await cloudformation.config.region();
  } catch {
    // explained below, on the first call
  }
  let outputs: Record<string, string>;
  try {
    const res = await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = res.Stacks?.[0];
    if (!stack) throw new CliError(`No stack named ${stackName} in ${region || "this region"}.`);
    outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""]));
  } catch (err) {
    throw explainAwsError(err, { stackName, region }) ?? err;
  }
  const missing = Object.keys(REQUIRED).filter((k) => !outputs[k]);
  if (missing.length > 0) {
    throw new CliError(`The stack ${stackName} is not an auth0-sync stack, or an older one: it has no ${missing.join(", ")} output.`);
  }
  const resources = Object.fromEntries(Object.entries(REQUIRED).map(([k, v]) => [v, outputs[k]])) as unknown as StackResources;
  resources.credentialsSecretArn = outputs.CredentialsSecretArn;
  resources.dashboardUrl = outputs.DashboardUrl;
  resources.alarmNamePrefix = outputs.AlarmNamePrefix;
  resources.configHash = outputs.ConfigHash;
  resources.reconcileFunctionName = outputs.ReconcileFunctionName;
  resources.unloadStateMachineArn = outputs.UnloadStateMachineArn;
  resources.sourceCredentialsSecretArn = outputs.SourceCredentialsSecretArn;
  resources.pseudonymKeySecretArn = outputs.PseudonymKeySecretArn;
  return { region, resources };
}
