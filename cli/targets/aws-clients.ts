/**
 * The AWS clients of the CLI's deployed target: every call bounded by timeouts (AWS_TIMEOUTS), and the SDK's
 * errors (no credentials, no region, expired or denied, a call AWS did not answer) turned into one sentence an
 * operator can act on.
 */
import { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import { CliError } from "./target.js";

export interface AwsClients {
  cloudformation: CloudFormationClient;
  cloudwatch: CloudWatchClient;
  lambda: LambdaClient;
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  redshift: RedshiftDataClient;
  sfn: SFNClient;
}

export interface AwsTimeouts {
  /** Time to establish the TCP (and TLS) connection. */
  connectMs: number;
  /** Time from sending a request to AWS's answer (its headers), each attempt. */
  requestMs: number;
  /** Attempts per call, the first included (the SDK retries timeouts). */
  maxAttempts: number;
}

/**
 * How long the CLI waits for AWS. Without a limit the SDK waits forever on an endpoint that accepts connections
 * and never answers (a wrong AWS_ENDPOINT_URL, a proxy or firewall that swallows requests). AWS answers these
 * calls in well under a second, so 5 s to connect and 20 s to answer are generous; two attempts (one retry) keep
 * a call that never gets an answer under about 41 s, well below the minute after which operators give up.
 */
export const AWS_TIMEOUTS: AwsTimeouts = { connectMs: 5_000, requestMs: 20_000, maxAttempts: 2 };

export interface AwsClientsOptions {
  region?: string;
  profile?: string;
  /** Clients to use instead of the default ones (tests). */
  clients?: Partial<AwsClients>;
  /** Overrides of AWS_TIMEOUTS for the clients created here (tests shorten them). */
  timeouts?: Partial<AwsTimeouts>;
}

/** What a call that timed out was: recorded by addTimeoutContext's middleware, read by explainAwsError. */
interface TimedOutCall {
  service: string;
  operation: string;
  region?: string;
  timeouts: AwsTimeouts;
}
const timedOutCalls = new WeakMap<object, TimedOutCall>();

const isTimeout = (err: unknown): err is Error => err instanceof Error && (err.name === "TimeoutError" || (err as { code?: string }).code === "ETIMEDOUT");
/** The socket errors of a host that cannot be reached at all: no network, no DNS, nothing listening. */
const UNREACHABLE = new Set(["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ENETUNREACH", "EHOSTUNREACH", "ENETDOWN"]);
const isUnreachable = (err: unknown): err is Error & { code: string; hostname?: string } => err instanceof Error && UNREACHABLE.has(String((err as { code?: unknown }).code));
/** A timeout of an AWS call: recorded by a client of ours, or the SDK's request handler's own (not Auth0's, say). */
const isAwsTimeout = (err: unknown): err is Error => isTimeout(err) && (timedOutCalls.has(err) || err.message.startsWith("@smithy/node-http-handler"));
const isConnectTimeout = (err: Error) => /establish a connection|connect ETIMEDOUT/i.test(err.message);
const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

/** Client options that bound every call: timeouts on the request handler and few attempts (see AWS_TIMEOUTS). */
export function awsClientOptions(timeouts: AwsTimeouts) {
  return {
    maxAttempts: timeouts.maxAttempts,
    // A plain options object: each client builds its NodeHttpHandler from it (@smithy/node-http-handler is not
    // a dependency of ours). Without throwOnRequestTimeout the handler only logs a warning when requestTimeout passes.
    requestHandler: { connectionTimeout: timeouts.connectMs, requestTimeout: timeouts.requestMs, throwOnRequestTimeout: true },
  };
}

type AnyClient = AwsClients[keyof AwsClients];

/** Records which service, operation and region a call was when it timed out (after the SDK's retries). */
function addTimeoutContext<C extends AnyClient>(client: C, timeouts: AwsTimeouts): C {
  // The clients' stacks differ only in their input and output types, which this middleware does not look at.
  (client.middlewareStack as AwsClients["sqs"]["middlewareStack"]).add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if ((isTimeout(err) || isUnreachable(err)) && !timedOutCalls.has(err)) {
          const region = await client.config.region().catch(() => undefined);
          timedOutCalls.set(err, {
            service: (context.clientName ?? "AWS").replace(/Client$/, ""),
            operation: (context.commandName ?? "").replace(/Command$/, ""),
            region,
            timeouts,
          });
        }
        throw err;
      }
    },
    { step: "initialize", name: "auth0SyncTimeoutContext", override: true },
  );
  return client;
}

/** The clients given, and the others created from the standard chain (or region and profile), bounded by timeouts. */
export function createAwsClients(opts: AwsClientsOptions): AwsClients {
  const timeouts: AwsTimeouts = { ...AWS_TIMEOUTS, ...opts.timeouts };
  const base = { region: opts.region, profile: opts.profile, ...awsClientOptions(timeouts) };
  const made = <C extends AnyClient>(client: C) => addTimeoutContext(client, timeouts);
  const c = opts.clients ?? {};
  return {
    cloudformation: c.cloudformation ?? made(new CloudFormationClient(base)),
    cloudwatch: c.cloudwatch ?? made(new CloudWatchClient(base)),
    lambda: c.lambda ?? made(new LambdaClient(base)),
    sqs: c.sqs ?? made(new SQSClient(base)),
    dynamodb: c.dynamodb ?? made(new DynamoDBClient(base)),
    redshift: c.redshift ?? made(new RedshiftDataClient(base)),
    sfn: c.sfn ?? made(new SFNClient(base)),
  };
}

/** The one sentence for a call AWS did not answer in time. */
function explainTimeout(err: Error): CliError {
  const call = timedOutCalls.get(err);
  const connect = isConnectTimeout(err);
  const ms = call ? (connect ? call.timeouts.connectMs : call.timeouts.requestMs) : Number(/(\d+) ms/.exec(err.message)?.[1]) || undefined;
  const within = ms ? ` within ${seconds(ms)}` : " in time";
  const what = call ? ` (${[`${call.service} ${call.operation}`.trim(), call.region ? `region ${call.region}` : ""].filter(Boolean).join(", ")})` : "";
  return new CliError(`AWS did not ${connect ? "accept a connection" : "answer"}${within}${what}: check the network, the region or AWS_ENDPOINT_URL.`);
}

/** The one sentence for an AWS endpoint that cannot be reached (its name does not resolve, nothing answers on it). */
function explainUnreachable(err: Error & { code: string; hostname?: string }): CliError {
  const call = timedOutCalls.get(err);
  const what = [call ? `${call.service} ${call.operation}`.trim() : "", call?.region ? `region ${call.region}` : "", err.hostname ? `host ${err.hostname}` : "", err.code].filter(Boolean).join(", ");
  return new CliError(`Cannot reach AWS (${what}): check the network, the region or AWS_ENDPOINT_URL.`);
}

/** Turns the AWS SDK's errors into one sentence an operator can act on. */
export function explainAwsError(err: unknown, context: { stackName?: string; region?: string } = {}): CliError | undefined {
  if (err instanceof CliError) return err;
  const e = err as { name?: string; message?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? "";
  const message = e?.message ?? String(err);
  for (let c: unknown = err, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    if (isAwsTimeout(c)) return explainTimeout(c);
    // A socket error of an AWS call (recorded by our clients' middleware, or the SDK's to an AWS host).
    if (isUnreachable(c) && (timedOutCalls.has(c) || /amazonaws\.com/.test(c.hostname ?? c.message))) return explainUnreachable(c);
  }
  if (name === "CredentialsProviderError" || /Could not load credentials/i.test(message)) {
    return new CliError("No AWS credentials found. Set AWS_PROFILE (or use --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run 'aws sso login'.");
  }
  if (/Region is missing/i.test(message)) return new CliError("No AWS region. Set AWS_REGION (or a region in your AWS profile), or use --region.");
  if (name === "ExpiredToken" || name === "ExpiredTokenException" || /security token included in the request is expired/i.test(message)) {
    return new CliError("Your AWS credentials have expired. Refresh them (for example 'aws sso login') and try again.");
  }
  if (name === "ValidationError" && /does not exist/i.test(message) && context.stackName) {
    return new CliError(`No stack named ${context.stackName} in ${context.region ?? "this region"}. Check --stack and --region, or deploy it with 'npx cdk deploy'.`);
  }
  if (name === "AccessDeniedException" || name === "AccessDenied" || /not authorized to perform/i.test(message)) {
    const action = /perform: ([\w:-]+)/.exec(message)?.[1];
    return new CliError(`Access denied${action ? ` for ${action}` : ""}. The operator's AWS identity needs the permissions listed in docs/operations.md.`);
  }
  if (name === "UnrecognizedClientException" || name === "InvalidClientTokenId") {
    return new CliError("AWS does not recognise these credentials. Check AWS_PROFILE or the access key.");
  }
  return undefined;
}
