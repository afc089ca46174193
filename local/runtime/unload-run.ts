/**
 * A run over an unloaded table on this machine: the state machine's definition the stack deploys
 * (functions/core/unload-state-machine.ts) executed by aws-local-stepfunctions, with its Tasks bound to the real
 * handlers (the extractor's steps, the segment worker) and to the Data API emulator (the SDK integrations). That
 * engine runs a Map inline only: the Distributed Map's ItemReader, ProcessorConfig and tolerated failures are mapped
 * onto an inline Map over the same items (the Plan step's file, read here as the ItemReader would read it).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { DescribeStatementCommand, ExecuteStatementCommand } from "@aws-sdk/client-redshift-data";
import type { Context } from "aws-lambda";
import "./node20.js";
import { StateMachine } from "aws-local-stepfunctions";
import { warehouseOf } from "../../functions/core/config.js";
import { measureOf } from "../../functions/core/extract-config.js";
import { UNLOAD_STATES, unloadStateMachineDefinition } from "../../functions/core/unload-state-machine.js";
import type { UnloadResult } from "../../functions/flows/unload-run.js";
import type { ExtractorResult } from "../../functions/flows/extract-run.js";
import type { LocalEnvironment } from "./environment.js";

/** A Lambda handler as the local Tasks call it (the middy handlers take their event and context). */
type Handler = (event: never, context: Context) => Promise<unknown>;

export interface LocalUnloadHandlers {
  /** The extractor's unload steps (createUnloadStepHandler over the local dependencies). */
  step: Handler;
  /** The segment worker (createSegmentHandler over the local dependencies). */
  segment: Handler;
  context: (fn: "extractor" | "segment") => Context;
}

/** Placeholders the local Tasks are bound by name instead of by ARN. */
const LOCAL_ARN = (fn: string) => `arn:aws:lambda:us-east-1:000000000000:function:local-${fn}`;

/**
 * The deployed definition with its Distributed Map made inline (what the local engine runs): the items the
 * ItemReader would read come with the Plan step's result instead (`$.plan.value.items`).
 */
export function inlineDistributedMaps(definition: Record<string, unknown>): Record<string, unknown> {
  const states = { ...(definition.States as Record<string, Record<string, unknown>>) };
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== "Map" || !state.ItemReader) continue;
    const { ItemReader: _reader, ToleratedFailurePercentage: _tolerated, ItemProcessor, ...rest } = state;
    const processor = ItemProcessor as { ProcessorConfig?: unknown; StartAt: string; States: unknown };
    states[name] = { ...rest, ItemsPath: "$.plan.value.items", ItemProcessor: { StartAt: processor.StartAt, States: processor.States } };
  }
  return { ...definition, States: states };
}

/**
 * What a failed local execution left for a redrive (Step Functions keeps it in the execution's history): the
 * state it failed in and that state's input, kept in the state directory.
 */
export interface LocalFailedExecution {
  runId: string;
  input: Record<string, unknown>;
  failedState: string;
  stateInput: unknown;
  redriveCount: number;
}

const executionsFile = (env: LocalEnvironment) => join(env.opts.stateDir, "executions.json");

function readExecutions(env: LocalEnvironment): Record<string, LocalFailedExecution> {
  const file = executionsFile(env);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, LocalFailedExecution>) : {};
}

function writeExecution(env: LocalEnvironment, runId: string, failed: LocalFailedExecution | undefined): void {
  const all = readExecutions(env);
  if (failed) all[runId] = failed;
  else delete all[runId];
  writeFileSync(executionsFile(env), JSON.stringify(all, null, 2));
}

/** The failed local execution of a run (the latest failed one when no run id is given), for a redrive. */
export function failedLocalExecution(env: LocalEnvironment, runId?: string): LocalFailedExecution | undefined {
  const all = Object.values(readExecutions(env));
  return runId === undefined ? all.sort((a, b) => a.runId.localeCompare(b.runId)).at(-1) : all.find((e) => e.runId === runId);
}

export async function runLocalUnload(env: LocalEnvironment, h: LocalUnloadHandlers, opts: { runId: string; approveMirror?: boolean; redrive?: LocalFailedExecution }): Promise<ExtractorResult> {
  const config = env.config;
  const src = warehouseOf(config);
  const S = UNLOAD_STATES;
  const definition = unloadStateMachineDefinition({
    extractorArn: LOCAL_ARN("extractor"),
    segmentArn: LOCAL_ARN("segment"),
    bucket: env.unloadBucket!,
    database: src.database,
    workgroupName: src.workgroupName,
    clusterIdentifier: src.clusterIdentifier,
    secretArn: src.secretArn,
    maxConcurrency: src.unload!.maxConcurrency,
    pollSeconds: 10,
    autoDataApiMaxBytes: measureOf(src),
  });
  // A redrive (RedriveExecution) runs the same definition from the state the execution failed in, with that
  // state's input and the execution's RedriveCount one higher.
  const redrive = opts.redrive;
  // (The definition is validated as deployed; started elsewhere, its Start run state is unreachable, which the
  // engine's validation refuses.)
  const inline = inlineDistributedMaps(definition);
  let machine = new StateMachine(inline as never, { validationOptions: { checkArn: true, checkPaths: true } });
  if (redrive) machine = new StateMachine({ ...inline, StartAt: redrive.failedState } as never, { validationOptions: { noValidate: true } });
  // The state machine's own calls (its SDK integrations, its ItemReader, its invokes), recorded as its role's.
  const redshift = env.redshiftClient("states");
  const s3 = env.handlerS3("states");
  type Invocation = { Payload: Record<string, unknown> };
  const lambda = (fn: "extractor" | "segment") => async (input: Invocation) => {
    env.recordCall({ fn: "states", service: "lambda", operation: "Invoke", resources: { functionName: fn } });
    return { Payload: fn === "extractor" ? await h.step(input.Payload as never, h.context("extractor")) : await h.segment(input.Payload as never, h.context("segment")) };
  };
  const extractor = lambda("extractor");
  const input = redrive?.input ?? { source: "local", approveMirror: opts.approveMirror === true };
  const runId = redrive?.runId ?? opts.runId;
  const redriveCount = redrive ? redrive.redriveCount + 1 : 0;
  // Where the execution fails, kept for a redrive: the Start step (its input is the execution's), or Fail run (the
  // run's state, which its payload carries).
  const failingIn = (state: string, stateInputOf: (i: Invocation) => unknown) => async (i: Invocation) => {
    try {
      return await extractor(i);
    } catch (err) {
      writeExecution(env, runId, { runId, input, failedState: state, stateInput: stateInputOf(i), redriveCount });
      throw err;
    }
  };
  const statement = async (i: Record<string, unknown>) => ({ Id: (await redshift.send(new ExecuteStatementCommand(i as never))).Id });
  const describe = async (i: Record<string, unknown>) => {
    const { $metadata: _m, ...out } = await redshift.send(new DescribeStatementCommand(i as never));
    return JSON.parse(JSON.stringify(out)) as unknown;
  };
  const execution = machine.run((redrive ? redrive.stateInput : input) as never, {
    context: { Execution: { Name: runId, Input: input as never, StartTime: new Date().toISOString(), RedriveCount: redriveCount } },
    overrides: {
      taskResourceLocalHandlers: <Record<string, (input: never) => Promise<unknown>>>{
        [S.start]: failingIn(S.start, () => input),
        [S.query]: extractor,
        [S.describeQuery]: extractor,
        [S.read]: extractor,
        [S.unload]: statement,
        [S.describe]: describe,
        // The Plan step, then its items as the Distributed Map's ItemReader reads them from S3.
        [S.plan]: async (i: Invocation) => {
          const { Payload } = await extractor(i);
          const plan = Payload as { itemsKey: string };
          const file = await s3.send(new GetObjectCommand({ Bucket: env.unloadBucket!, Key: plan.itemsKey }));
          return { Payload: { ...plan, items: JSON.parse(await file.Body!.transformToString()) as unknown } };
        },
        [S.segment]: lambda("segment"),
        [S.finish]: extractor,
        [S.fail]: failingIn(S.fail, (i) => i.Payload.state),
      } as never,
      waitTimeOverrides: { [S.wait]: 20, [S.waitQuery]: 20 },
      retryIntervalOverrides: Object.fromEntries([S.segment, S.start, S.plan, S.finish, S.fail, S.unload, S.describe, S.query, S.describeQuery, S.read].map((state) => [state, 10])),
    },
  });
  const result = (await execution.result) as UnloadResult | { start: { runId: string; skipped: string; startedAt: number } } | undefined;
  writeExecution(env, runId, undefined);
  if (result && "start" in result) {
    const skipped = result.start.skipped;
    return { runId: result.start.runId, skipped, rowsRead: 0, rejected: 0, unchanged: 0, enqueued: 0, messages: 0, sqsRequests: 0, rejectReasons: {}, sampleRejections: [], elapsedMs: 0 };
  }
  if (!result) throw new Error("the unload run ended without a result");
  return result;
}
