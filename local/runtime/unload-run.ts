/**
 * A run over an unloaded table on this machine: the state machine's definition the stack deploys
 * (functions/core/unload-state-machine.ts) executed by aws-local-stepfunctions, with its Tasks bound to the real
 * handlers (the extractor's steps, the segment worker) and to the Data API emulator (the SDK integrations). That
 * engine runs a Map inline only: the Distributed Map's ItemReader, ProcessorConfig and tolerated failures are mapped
 * onto an inline Map over the same items (the Plan step's file, read here as the ItemReader would read it).
 */
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { DescribeStatementCommand, ExecuteStatementCommand } from "@aws-sdk/client-redshift-data";
import type { Context } from "aws-lambda";
import "./node20.js";
import { StateMachine } from "aws-local-stepfunctions";
import { warehouseOf } from "../../functions/core/config.js";
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

export async function runLocalUnload(env: LocalEnvironment, h: LocalUnloadHandlers, opts: { runId: string; approveMirror?: boolean }): Promise<ExtractorResult> {
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
  });
  const machine = new StateMachine(inlineDistributedMaps(definition) as never, { validationOptions: { checkArn: true, checkPaths: true } });
  // The state machine's own calls (its SDK integrations, its ItemReader, its invokes), recorded as its role's.
  const redshift = env.redshiftClient("states");
  const s3 = env.handlerS3("states");
  type Invocation = { Payload: Record<string, unknown> };
  const lambda = (fn: "extractor" | "segment") => async (input: Invocation) => {
    env.recordCall({ fn: "states", service: "lambda", operation: "Invoke", resources: { functionName: fn } });
    return { Payload: fn === "extractor" ? await h.step(input.Payload as never, h.context("extractor")) : await h.segment(input.Payload as never, h.context("segment")) };
  };
  const extractor = lambda("extractor");
  const execution = machine.run(
    { source: "local", approveMirror: opts.approveMirror === true },
    {
      context: { Execution: { Name: opts.runId, Input: { source: "local", approveMirror: opts.approveMirror === true }, StartTime: new Date().toISOString() } },
      overrides: {
        taskResourceLocalHandlers: <Record<string, (input: never) => Promise<unknown>>>{
          [S.start]: extractor,
          [S.unload]: async (input: Record<string, unknown>) => {
            const out = await redshift.send(new ExecuteStatementCommand(input as never));
            return { Id: out.Id };
          },
          [S.describe]: async (input: Record<string, unknown>) => {
            const { $metadata: _m, ...out } = await redshift.send(new DescribeStatementCommand(input as never));
            return JSON.parse(JSON.stringify(out)) as unknown;
          },
          // The Plan step, then its items as the Distributed Map's ItemReader reads them from S3.
          [S.plan]: async (input: Invocation) => {
            const { Payload } = await extractor(input);
            const plan = Payload as { itemsKey: string };
            const file = await s3.send(new GetObjectCommand({ Bucket: env.unloadBucket!, Key: plan.itemsKey }));
            return { Payload: { ...plan, items: JSON.parse(await file.Body!.transformToString()) as unknown } };
          },
          [S.segment]: lambda("segment"),
          [S.finish]: extractor,
          [S.fail]: extractor,
        } as never,
        waitTimeOverrides: { [S.wait]: 20 },
        retryIntervalOverrides: { [S.segment]: 10, [S.start]: 10, [S.plan]: 10, [S.finish]: 10, [S.fail]: 10, [S.unload]: 10, [S.describe]: 10 },
      },
    },
  );
  const result = (await execution.result) as UnloadResult | { start: { runId: string; skipped: string; startedAt: number } } | undefined;
  if (result && "start" in result) {
    const skipped = result.start.skipped;
    return { runId: result.start.runId, skipped, rowsRead: 0, rejected: 0, unchanged: 0, enqueued: 0, messages: 0, sqsRequests: 0, rejectReasons: {}, sampleRejections: [], elapsedMs: 0 };
  }
  if (!result) throw new Error("the unload run ended without a result");
  return result;
}
