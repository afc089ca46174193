/**
 * The CLI's deployed target: resources found from the stack's outputs (aws-stack.ts), AWS credentials and region
 * from the standard chain or --profile / --region (aws-clients.ts). Reads what it shows; writes only when the
 * operator asks for a run or a redrive.
 */
import { lastReconcile, runAfter, runsForStatus } from "../../functions/flows/run-status.js";
import { setTimeout as sleep } from "node:timers/promises";
import { DescribeAlarmsCommand, GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import { InvokeCommand } from "@aws-sdk/client-lambda";
import { DescribeExecutionCommand, RedriveExecutionCommand, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { Auth0Adapter, auth0OptionsFromConfig } from "../../functions/adapters/auth0/client.js";
import { PacerSet } from "../../functions/adapters/auth0/pacers.js";
import { Ledger, type RunRecord } from "../../functions/adapters/ledger/ledger.js";
import { openRowSource } from "../../functions/flows/row-source.js";
import { loadAuth0Credentials, loadSourceTenantAccess } from "../../functions/adapters/runtime/config.js";
import { CopySample } from "../../functions/core/copy-sample.js";
import { queueDepth, redrive } from "../../functions/adapters/sqs/redrive.js";
import { configHash, transformOf, type SyncConfig } from "../../functions/core/config.js";
import { consumerBudget } from "../../functions/core/budget.js";
import { newRunId } from "../../functions/core/runs.js";
import { describeDlqMessages, type RawMessage } from "../dlq.js";
import { absentOf, runReport } from "../runs.js";
import { planRun, type PlanReport } from "../plan.js";
import { createAwsClients, explainAwsError, type AwsClients, type AwsClientsOptions } from "./aws-clients.js";
import { findStack, type StackResources } from "./aws-stack.js";
import type { SessionResult } from "../../functions/flows/reconcile-session.js";
import {
  CliError,
  type AlarmState,
  type PlanOptions,
  type QueueState,
  type ReconcileOptions,
  type ReconcileReport,
  type WatchReport,
  type RedriveExecutionOptions,
  type RedriveOptions,
  type RedriveReport,
  type RunOptions,
  type RunReport,
  type StatusOptions,
  type StatusReport,
  type Target,
} from "./target.js";

export interface AwsTargetOptions extends AwsClientsOptions {
  stackName: string;
  /** The sync config the stack was deployed with (needed by `plan`). */
  config?: SyncConfig;
}

/** How long `reconcile` waits for the function's answer: its 15-minute timeout and a margin. */
const RECONCILE_WAIT_MS = 16 * 60_000;

/** The reason of a function error (Lambda's `{errorType, errorMessage}` body), or the body as it came. */
function reconcileError(body: string): string {
  try {
    const e = JSON.parse(body) as { errorMessage?: unknown };
    if (typeof e.errorMessage === "string") return e.errorMessage;
  } catch {
    // not JSON: shown as it is
  }
  return body || "no reason given";
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
    const clients = createAwsClients(opts);
    const { region, resources } = await findStack(clients.cloudformation, opts.stackName, opts.region);
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
    const auth0 = new Auth0Adapter({ ...auth0OptionsFromConfig(config, credentials), pacer: PacerSet.fromShares(share) });
    const sample = new CopySample(5, transformOf(config));
    const source = await openRowSource(config, {
      redshift: () => this.clients.redshift,
      sourceTenant: () =>
        // The deployed stack's secrets only (the config's, else its outputs): a key or credentials in the operator's
        // environment would plan against other pseudonyms than the deployed extractor's.
        loadSourceTenantAccess(config, {
          SOURCE_CREDENTIALS_SECRET_ARN: config.source.type === "auth0" ? (config.source.credentialsSecretArn ?? this.resources.sourceCredentialsSecretArn) : undefined,
          PSEUDONYM_KEY_SECRET_ARN: config.transform?.keySecretArn ?? this.resources.pseudonymKeySecretArn,
        }).catch((err: Error) => {
          throw explainAwsError(err) ?? new CliError(`Cannot read the source tenant's credentials or the pseudonymisation key: ${err.message}`);
        }),
      onSourceUser: sample.add,
    });
    return planRun({ config, source, sample, ledger: this.ledger, auth0, maxLookups: opts.maxLookups, key: opts.key, onProgress: opts.onProgress });
  }

  async run(opts: RunOptions): Promise<RunReport> {
    const runId = newRunId();
    const machine = this.resources.unloadStateMachineArn;
    if (machine) {
      // A stack that unloads: a run is an execution of its state machine, named by the run id (its start step reads it).
      await this.clients.sfn.send(new StartExecutionCommand({ stateMachineArn: machine, name: runId, input: JSON.stringify({ source: "cli", approveMirror: opts.approveMirror === true }) }));
    } else {
      await this.clients.lambda.send(
        new InvokeCommand({
          FunctionName: this.resources.extractorFunctionName,
          InvocationType: "Event",
          Payload: new TextEncoder().encode(JSON.stringify({ runId, approveMirror: opts.approveMirror || undefined })),
        }),
      );
    }
    return this.follow(runId, opts);
  }

  /**
   * Redrives a failed execution of the unload state machine (RedriveExecution): it reruns its failure step, which
   * takes the run lock back and resumes the run where it failed; then follows the run as \`run\` does.
   */
  async redriveExecution(opts: RedriveExecutionOptions): Promise<RunReport> {
    const machine = this.resources.unloadStateMachineArn;
    if (!machine) throw new CliError(`The stack ${this.opts.stackName} does not unload its table: its runs are extractor invocations, with no execution to redrive. 'auth0-sync redrive' (without --execution) moves the DLQ back.`);
    const runId = opts.runId ?? (await this.ledger.runs.latest(20)).find((r) => r.status === "failed")?.runId;
    if (!runId) throw new CliError("No failed run among the last 20 to redrive; name one with --execution RUN_ID.");
    const arn = executionArn(machine, runId);
    // Only an execution that failed (its failure step ran: the run recorded, the lock released) resumes safely: one
    // that timed out or was stopped would go on mid-step without its run lock.
    const execution = await this.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn })).catch((err: unknown) => {
      throw (err as { name?: string }).name === "ExecutionDoesNotExist" ? new CliError(`The state machine has no execution named ${runId}: is it a run of this stack over an unloaded table?`) : err;
    });
    if (execution.status !== "FAILED") {
      throw new CliError(
        execution.status === "TIMED_OUT" || execution.status === "ABORTED"
          ? `The execution of run ${runId} is ${execution.status}: auth0-sync redrives only an execution that failed (one that timed out or was stopped would go on mid-step without its run lock). Start a new run instead.`
          : `The execution of run ${runId} is ${execution.status ?? "unknown"}: only a failed execution is redriven.`,
      );
    }
    // Its record says failed until the redriven failure step marks it running: that record is not the redrive's end.
    const before = await this.ledger.runs.get(runId);
    const later = before && (await runAfter(this.ledger, runId, before.startedAt));
    if (later) throw new CliError(`Run ${runId} is not redriven: run ${later} started after it and did work, and a redrive would send older rows over it. Start a new run instead.`);
    try {
      await this.clients.sfn.send(new RedriveExecutionCommand({ executionArn: arn }));
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === "ExecutionNotRedrivable") throw new CliError(`The execution of run ${runId} cannot be redriven: ${(err as Error).message} (only a failed, aborted or timed-out execution of the last 14 days can).`);
      throw err;
    }
    return this.follow(runId, opts, before);
  }

  /** Follows a started run in the ledger until it ends, its users settled (or in the DLQ), or the timeout. */
  private async follow(runId: string, opts: Pick<RunOptions, "wait" | "timeoutSeconds" | "pollMs" | "onProgress">, stale?: RunRecord): Promise<RunReport> {
    const started = Date.now();
    const machine = this.resources.unloadStateMachineArn;
    const report = (run: RunRecord | undefined, status: RunReport["status"]): RunReport => ({
      ...runReport(runId, run, status, Date.now() - started),
      ...(machine ? { executionUrl: executionUrl(machine, runId) } : {}),
    });
    if (!opts.wait) return report(undefined, "running");
    const pollMs = opts.pollMs ?? 2000;
    let drainedPolls = 0;
    for (;;) {
      const run = await this.ledger.runs.get(runId);
      const elapsedMs = Date.now() - started;
      const unchangedSince = stale !== undefined && run?.status === stale.status && run.finishedAt === stale.finishedAt;
      const status = run && !unchangedSince ? run.status : "running";
      if (status === "failed" || status === "skipped") return report(run, status);
      if (status === "completed" || status === "held") {
        const r = report(run, status);
        const total = r.rowsRead + absentOf(run);
        opts.onProgress?.({ phase: "consume", done: total - r.unaccounted, total, elapsedMs });
        if (r.unaccounted <= 0) return r;
        // Nothing left to deliver: what is still unaccounted is in the DLQ (two polls in a row, to be sure).
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
      runsForStatus(this.ledger, opts.runs),
      this.queueState(r.queueUrl),
      this.queueState(r.dlqUrl),
      r.alarmNamePrefix ? this.alarms(r.alarmNamePrefix) : Promise.resolve(undefined),
      this.peek(r.dlqUrl, opts.sample),
    ]);
    const reconciled = r.reconcileFunctionName ? await lastReconcile(this.ledger) : undefined;
    const machine = r.unloadStateMachineArn;
    const executionUrls = machine ? Object.fromEntries(runs.map((run) => [run.runId, executionUrl(machine, run.runId)])) : undefined;
    // The watch's record, once it has seen an event (absent on a stack without the watch).
    const watch = await this.ledger.watch.get();
    return { where: this.where, runs, queue, dlq, alarms, dlqSample: await describeDlqMessages(sampleRaw, this.ledger), dashboardUrl: r.dashboardUrl, lastReconcile: reconciled, executionUrls, watch };
  }

  /** A stack's watch runs by itself (EventBridge -> the watch queue -> the watch function): nothing to start here. */
  watch(): Promise<WatchReport> {
    return Promise.reject(new CliError("On a stack the watch runs by itself once watch.enabled is deployed and Auth0's log stream is associated (docs/watch.md); `auth0-sync status` shows its last events and repairs. `watch --local` runs it on the local state."));
  }

  /**
   * Invokes the reconcile function and waits for its answer (up to its 15 minutes). When the export job outlives
   * the invocation, the function goes on with it by itself: the report says so, and `status` shows the end.
   */
  async reconcile(opts: ReconcileOptions): Promise<ReconcileReport> {
    const fn = this.resources.reconcileFunctionName;
    if (!fn) throw new CliError(`The stack ${this.opts.stackName} has no reconcile function: add a reconcile section to the config and deploy.`);
    const started = Date.now();
    const res = await this.clients.lambda.send(
      new InvokeCommand({ FunctionName: fn, InvocationType: "RequestResponse", Payload: new TextEncoder().encode(JSON.stringify({ dryRun: opts.dryRun || undefined })) }),
      // The function may take its whole timeout: this one call waits longer than the CLI's default request timeout.
      { requestTimeout: RECONCILE_WAIT_MS },
    );
    const text = res.Payload ? new TextDecoder().decode(res.Payload) : "";
    if (res.FunctionError) throw new CliError(`The reconcile failed: ${reconcileError(text)}`, 1);
    const out = JSON.parse(text) as SessionResult;
    const elapsedMs = Date.now() - started;
    if (out.state === "running") return { state: "running", dryRun: opts.dryRun, reconcileId: out.reconcileId, jobId: out.jobId, jobStatus: out.status, elapsedMs };
    if (out.state === "skipped") throw new CliError(`The reconcile did not start: ${out.reason}.`, 1);
    return { ...out.result, state: "completed", dryRun: opts.dryRun, elapsedMs };
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

  close(): Promise<void> {
    const { cloudformation, cloudwatch, lambda, sqs, dynamodb, redshift } = this.clients;
    for (const c of [cloudformation, cloudwatch, lambda, sqs, dynamodb, redshift]) c.destroy();
    return Promise.resolve();
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

/** A run's execution: the state machine's execution named by the run id. */
export function executionArn(stateMachineArn: string, runId: string): string {
  const [, partition, , region, account, , name] = stateMachineArn.split(":");
  return `arn:${partition}:states:${region}:${account}:execution:${name}:${runId}`;
}

/** A run's execution in the Step Functions console. */
export function executionUrl(stateMachineArn: string, runId: string): string {
  const region = stateMachineArn.split(":")[3];
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn(stateMachineArn, runId)}`;
}
