/**
 * The CLI's deployed target: resources found from the stack's outputs, AWS credentials and region from the
 * standard chain (or --profile / --region). Reads what it shows; writes only when the operator asks for a run
 * or a redrive.
 */
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { Auth0Adapter, auth0OptionsFromConfig } from "../functions/adapters/auth0/client.js";
import { Pacer } from "../functions/adapters/auth0/pacer.js";
import { Ledger, type RunRecord } from "../functions/adapters/ledger/ledger.js";
import { RedshiftSource } from "../functions/adapters/redshift/source.js";
import { loadAuth0Credentials } from "../functions/adapters/runtime/config.js";
import { queueDepth, redrive } from "../functions/adapters/sqs/redrive.js";
import { configHash, consumerBudget, type SyncConfig } from "../functions/core/config.js";
import { newRunId } from "../functions/extractor/extract.js";
import { describeDlqMessages, type RawMessage } from "./dlq.js";
import { absentOf, runReport } from "./runs.js";
import { planRun, type PlanReport } from "./plan.js";
import {
  CliError,
  type AlarmState,
  type PlanOptions,
  type QueueState,
  type RedriveOptions,
  type RedriveReport,
  type RunOptions,
  type RunReport,
  type StatusOptions,
  type StatusReport,
  type Target,
} from "./target.js";

export interface AwsClients {
  cloudformation: CloudFormationClient;
  cloudwatch: CloudWatchClient;
  lambda: LambdaClient;
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  redshift: RedshiftDataClient;
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

export interface AwsTargetOptions {
  stackName: string;
  region?: string;
  profile?: string;
  /** The sync config the stack was deployed with (needed by `plan`). */
  config?: SyncConfig;
  /** Clients to use instead of the default ones (tests). */
  clients?: Partial<AwsClients>;
  /** Overrides of AWS_TIMEOUTS for the clients created here (tests shorten them). */
  timeouts?: Partial<AwsTimeouts>;
}

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
}

const REQUIRED = {
  QueueUrl: "queueUrl",
  QueueArn: "queueArn",
  DeadLetterQueueUrl: "dlqUrl",
  DeadLetterQueueArn: "dlqArn",
  ExtractorFunctionName: "extractorFunctionName",
  LedgerTableName: "ledgerTableName",
} as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a call that timed out was: recorded by addTimeoutContext's middleware, read by explainAwsError. */
interface TimedOutCall {
  service: string;
  operation: string;
  region?: string;
  timeouts: AwsTimeouts;
}
const timedOutCalls = new WeakMap<object, TimedOutCall>();

const isTimeout = (err: unknown): err is Error => err instanceof Error && (err.name === "TimeoutError" || (err as { code?: string }).code === "ETIMEDOUT");
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
        if (isTimeout(err) && !timedOutCalls.has(err)) {
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

/** The one sentence for a call AWS did not answer in time. */
function explainTimeout(err: Error): CliError {
  const call = timedOutCalls.get(err);
  const connect = isConnectTimeout(err);
  const ms = call ? (connect ? call.timeouts.connectMs : call.timeouts.requestMs) : Number(/(\d+) ms/.exec(err.message)?.[1]) || undefined;
  const within = ms ? ` within ${seconds(ms)}` : " in time";
  const what = call ? ` (${[`${call.service} ${call.operation}`.trim(), call.region ? `region ${call.region}` : ""].filter(Boolean).join(", ")})` : "";
  return new CliError(`AWS did not ${connect ? "accept a connection" : "answer"}${within}${what}: check the network, the region or AWS_ENDPOINT_URL.`);
}

/** Turns the AWS SDK's errors into one sentence an operator can act on. */
export function explainAwsError(err: unknown, context: { stackName?: string; region?: string } = {}): CliError | undefined {
  if (err instanceof CliError) return err;
  const e = err as { name?: string; message?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? "";
  const message = e?.message ?? String(err);
  for (let c: unknown = err, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    if (isAwsTimeout(c)) return explainTimeout(c);
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

export class AwsTarget implements Target {
  readonly where: string;
  readonly warnings: string[] = [];
  private readonly ledger: Ledger;

  private constructor(
    private readonly opts: AwsTargetOptions,
    private readonly clients: AwsClients,
    readonly resources: StackResources,
    readonly region: string,
  ) {
    this.where = `stack ${opts.stackName} (${region})`;
    this.ledger = new Ledger(clients.dynamodb, resources.ledgerTableName);
    if (opts.config && resources.configHash && configHash(opts.config) !== resources.configHash) {
      this.warnings.push(`The config given differs from the one ${opts.stackName} was deployed with; deploy it first or plan with the deployed file.`);
    }
  }

  static async open(opts: AwsTargetOptions): Promise<AwsTarget> {
    const timeouts: AwsTimeouts = { ...AWS_TIMEOUTS, ...opts.timeouts };
    const base = { region: opts.region, profile: opts.profile, ...awsClientOptions(timeouts) };
    const made = <C extends AnyClient>(client: C) => addTimeoutContext(client, timeouts);
    const c = opts.clients ?? {};
    const clients: AwsClients = {
      cloudformation: c.cloudformation ?? made(new CloudFormationClient(base)),
      cloudwatch: c.cloudwatch ?? made(new CloudWatchClient(base)),
      lambda: c.lambda ?? made(new LambdaClient(base)),
      sqs: c.sqs ?? made(new SQSClient(base)),
      dynamodb: c.dynamodb ?? made(new DynamoDBClient(base)),
      redshift: c.redshift ?? made(new RedshiftDataClient(base)),
    };
    let region = opts.region ?? "";
    try {
      region = await clients.cloudformation.config.region();
    } catch {
      // explained below, on the first call
    }
    let outputs: Record<string, string>;
    try {
      const res = await clients.cloudformation.send(new DescribeStacksCommand({ StackName: opts.stackName }));
      const stack = res.Stacks?.[0];
      if (!stack) throw new CliError(`No stack named ${opts.stackName} in ${region || "this region"}.`);
      outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""]));
    } catch (err) {
      throw explainAwsError(err, { stackName: opts.stackName, region }) ?? err;
    }
    const missing = Object.keys(REQUIRED).filter((k) => !outputs[k]);
    if (missing.length > 0) {
      throw new CliError(`The stack ${opts.stackName} is not an auth0-sync stack, or an older one: it has no ${missing.join(", ")} output.`);
    }
    const resources = Object.fromEntries(Object.entries(REQUIRED).map(([k, v]) => [v, outputs[k]])) as unknown as StackResources;
    resources.credentialsSecretArn = outputs.CredentialsSecretArn;
    resources.dashboardUrl = outputs.DashboardUrl;
    resources.alarmNamePrefix = outputs.AlarmNamePrefix;
    resources.configHash = outputs.ConfigHash;
    return new AwsTarget(opts, clients, resources, region);
  }

  async plan(opts: PlanOptions): Promise<PlanReport> {
    const config = this.opts.config;
    if (!config) throw new CliError("plan needs the sync config the stack was deployed with: give it with --config FILE.");
    const withSecret: SyncConfig = { ...config, auth0: { ...config.auth0, credentialsSecretArn: config.auth0.credentialsSecretArn ?? this.resources.credentialsSecretArn } };
    const credentials = await loadAuth0Credentials(withSecret).catch((err: Error) => {
      throw explainAwsError(err) ?? new CliError(`Cannot read the Auth0 credentials: ${err.message}`);
    });
    // One consumer instance's share of the budget: a plan must not starve a run that is draining.
    const share = consumerBudget(config);
    const auth0 = new Auth0Adapter({ ...auth0OptionsFromConfig(config, credentials), pacer: new Pacer({ rate: share.rps, burst: share.burst }) });
    return planRun({ config, source: new RedshiftSource(this.clients.redshift, config.source), ledger: this.ledger, auth0, maxLookups: opts.maxLookups, onProgress: opts.onProgress });
  }

  async run(opts: RunOptions): Promise<RunReport> {
    const runId = newRunId();
    const started = Date.now();
    await this.clients.lambda.send(
      new InvokeCommand({
        FunctionName: this.resources.extractorFunctionName,
        InvocationType: "Event",
        Payload: new TextEncoder().encode(JSON.stringify({ runId, approveMirror: opts.approveMirror || undefined })),
      }),
    );
    const report = (run: RunRecord | undefined, status: RunReport["status"]): RunReport => runReport(runId, run, status, Date.now() - started);
    if (!opts.wait) return report(undefined, "running");
    const pollMs = opts.pollMs ?? 2000;
    let drainedPolls = 0;
    for (;;) {
      const run = await this.ledger.getRun(runId);
      const elapsedMs = Date.now() - started;
      const status = run?.status ?? "running";
      if (status === "failed" || status === "skipped") return report(run, status);
      if (status === "completed" || status === "held") {
        const r = report(run, status);
        const total = r.rowsRead + absentOf(run);
        opts.onProgress?.({ phase: "consume", done: total - r.unsettled, total, elapsedMs });
        if (r.unsettled <= 0) return r;
        // Nothing left to deliver: what is still unsettled is in the DLQ (two polls in a row, to be sure).
        const q = await queueDepth(this.clients.sqs, this.resources.queueUrl);
        drainedPolls = q.visible + q.inFlight === 0 ? drainedPolls + 1 : 0;
        if (drainedPolls >= 2) return r;
      } else {
        opts.onProgress?.({ phase: "extract", done: 0, total: 0, elapsedMs });
      }
      if (elapsedMs > opts.timeoutSeconds * 1000) return report(run, "timed out");
      await sleep(pollMs);
    }
  }

  async status(opts: StatusOptions): Promise<StatusReport> {
    const r = this.resources;
    const [runs, queue, dlq, alarms, sampleRaw] = await Promise.all([
      this.ledger.runsForStatus(opts.runs),
      this.queueState(r.queueUrl),
      this.queueState(r.dlqUrl),
      r.alarmNamePrefix ? this.alarms(r.alarmNamePrefix) : Promise.resolve(undefined),
      this.peek(r.dlqUrl, opts.sample),
    ]);
    return { where: this.where, runs, queue, dlq, alarms, dlqSample: await describeDlqMessages(sampleRaw, this.ledger), dashboardUrl: r.dashboardUrl };
  }

  async redrive(opts: RedriveOptions): Promise<RedriveReport> {
    const r = this.resources;
    const { visible } = await queueDepth(this.clients.sqs, r.dlqUrl);
    if (opts.dryRun) return { messages: visible, dryRun: true };
    const progress = await redrive(this.clients.sqs, {
      dlqUrl: r.dlqUrl,
      dlqArn: r.dlqArn,
      queueArn: r.queueArn,
      ratePerSecond: opts.rate,
      signal: opts.signal,
      pollMs: opts.pollMs,
      onProgress: opts.onProgress,
    });
    return { messages: visible, progress, dryRun: false };
  }

  async close(): Promise<void> {
    for (const c of Object.values(this.clients)) c.destroy();
  }

  private async queueState(url: string): Promise<QueueState> {
    const d = await queueDepth(this.clients.sqs, url);
    const name = url.split("/").pop() ?? "";
    const end = new Date();
    const res = await this.clients.cloudwatch.send(
      new GetMetricStatisticsCommand({
        Namespace: "AWS/SQS",
        MetricName: "ApproximateAgeOfOldestMessage",
        Dimensions: [{ Name: "QueueName", Value: name }],
        StartTime: new Date(end.getTime() - 15 * 60_000),
        EndTime: end,
        Period: 60,
        Statistics: ["Maximum"],
      }),
    );
    const latest = (res.Datapoints ?? []).sort((a, b) => (b.Timestamp?.getTime() ?? 0) - (a.Timestamp?.getTime() ?? 0))[0];
    return { ...d, oldestAgeSeconds: d.visible + d.inFlight > 0 ? latest?.Maximum : undefined };
  }

  private async alarms(prefix: string): Promise<AlarmState[]> {
    const res = await this.clients.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, MaxRecords: 100 }));
    return (res.MetricAlarms ?? []).map((a) => ({ name: (a.AlarmName ?? "").slice(prefix.length), state: a.StateValue ?? "UNKNOWN", reason: a.StateReason }));
  }

  /** DLQ messages read with a zero visibility timeout: they stay where they are, ready for a redrive. */
  private async peek(url: string, n: number): Promise<RawMessage[]> {
    const seen = new Map<string, RawMessage>();
    for (let i = 0; i < 3 && seen.size < n; i++) {
      const got = await this.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: Math.min(10, n), VisibilityTimeout: 0, WaitTimeSeconds: 0, AttributeNames: ["All"] }),
      );
      if (!got.Messages?.length) break;
      for (const m of got.Messages) {
        if (seen.size >= n) break;
        seen.set(m.MessageId!, {
          messageId: m.MessageId!,
          body: m.Body ?? "",
          sentAt: m.Attributes?.SentTimestamp ? Number(m.Attributes.SentTimestamp) : undefined,
        });
      }
    }
    return [...seen.values()];
  }
}
