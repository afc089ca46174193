/**
 * One of the sync's Lambdas (the extractor, the consumer and, with `reconcile`, the reconcile), with the defaults
 * they share baked in: its own log group, its own role (no managed policy), the ESM bundle on ARM64 with the
 * validated config embedded, and Powertools' settings.
 */
import { type Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import type { SyncConfig } from "../functions/core/config.js";
import { METRICS_NAMESPACE } from "../functions/core/metrics.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

export type SyncFunctionName = "extractor" | "consumer" | "reconcile" | "segment" | "importer" | "watch";

export interface SyncFunctionProps {
  /** Which handler (functions/<name>/handler.ts); also the construct id and the Powertools service suffix. */
  name: SyncFunctionName;
  config: SyncConfig;
  timeout: Duration;
  /** Added to the Powertools settings every function gets. */
  environment?: Record<string, string>;
  /** A physical name, for a function that must know its own ARN at synth (the reconcile invokes itself). */
  functionName?: string;
  /** Reserved concurrency (the reconcile: one at a time). */
  reservedConcurrentExecutions?: number;
}

/**
 * The function, at `<scope>/<name>`; its log group and role sit next to it (`<name>-logs`, `<name>-role`), where
 * they have always been, so that their logical ids, and the deployed resources, stay as they are.
 */
export class SyncFunction extends NodejsFunction {
  /** The function's own role: its log group's write access, then what its handler calls (see Pipeline). */
  declare readonly role: iam.Role;

  constructor(scope: Construct, props: SyncFunctionProps) {
    const { name, config } = props;
    const logGroup = new logs.LogGroup(scope, `${name}-logs`, {
      retention: config.lambda.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, `${name}-role`, {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `auth0-sync ${config.name} ${name}`,
    });
    // Its own log group only, instead of the AWSLambdaBasicExecutionRole managed policy (logs on *).
    logGroup.grantWrite(role);
    super(scope, name, {
      entry: join(ROOT, "functions", name, "handler.ts"),
      handler: "handler",
      projectRoot: ROOT,
      depsLockFilePath: join(ROOT, "package-lock.json"),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: config.lambda.memoryMb,
      timeout: props.timeout,
      functionName: props.functionName,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role,
      logGroup,
      tracing: config.lambda.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      environment: {
        POWERTOOLS_SERVICE_NAME: `${config.name}-${name}`,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: "INFO",
        NODE_OPTIONS: "--enable-source-maps",
        ...props.environment,
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
  }
}
