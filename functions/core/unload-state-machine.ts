/**
 * The state machine of a run over an unloaded table (docs/scaling.md), as Amazon States Language: the one
 * definition the stack deploys (lib/unload-run.ts) and the local run executes (local/runtime/unload-run.ts). Pure:
 * names and ARNs in, a definition out.
 *
 *   Start (the extractor: the run lock, the statement)  -> skipped? -> Skipped (Succeed)
 *   Unload: redshiftdata:executeStatement (an SDK integration: no Lambda waits)
 *   Wait -> Describe: redshiftdata:describeStatement -> FINISHED? / FAILED or ABORTED? / else Wait again
 *   Plan (the extractor: the manifest -> the segments, written to S3 as the Map's items)
 *   Segments: a DISTRIBUTED Map reading the items with an ItemReader, one segment worker per file, MaxConcurrency
 *     from the config, tolerated failures 0, each worker retried with backoff
 *   Finish (the extractor: the sum, mirror mode over the whole run, the record, the lock) -> Done
 *   any failure from Unload on -> Fail run (the extractor: recorded failed, the lock released) -> Failed
 */
import { UNLOAD_RUN_TIMEOUT_SECONDS } from "./extract-config.js";

export interface UnloadStateMachineSettings {
  extractorArn: string;
  segmentArn: string;
  bucket: string;
  database: string;
  workgroupName?: string;
  clusterIdentifier?: string;
  secretArn?: string;
  /** Segment workers at once (the Map's MaxConcurrency). */
  maxConcurrency: number;
  /** Seconds between DescribeStatement calls while UNLOAD runs. */
  pollSeconds: number;
}

/** The states' names: the local runner binds its Tasks to them, the tests read them. */
export const UNLOAD_STATES = {
  start: "Start run",
  skipped: "Skipped?",
  skippedEnd: "Skipped",
  unload: "Unload",
  wait: "Wait for UNLOAD",
  describe: "Describe UNLOAD",
  finished: "UNLOAD finished?",
  plan: "Plan segments",
  segments: "Segments",
  segment: "Segment",
  finish: "Finish run",
  done: "Done",
  fail: "Fail run",
  failed: "Failed",
} as const;

/** Lambda's own transient errors, retried on every Lambda task (as AWS recommends for lambda:invoke). */
const LAMBDA_TRANSIENT = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"];

const invoke = (functionArn: string, payload: Record<string, unknown>) => ({
  Type: "Task",
  Resource: "arn:aws:states:::lambda:invoke",
  Parameters: { FunctionName: functionArn, Payload: payload },
  Retry: [{ ErrorEquals: LAMBDA_TRANSIENT, IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2, JitterStrategy: "FULL" }],
});

const catchAll = { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: UNLOAD_STATES.fail };

export function unloadStateMachineDefinition(s: UnloadStateMachineSettings): Record<string, unknown> {
  const S = UNLOAD_STATES;
  const target = s.workgroupName ? { WorkgroupName: s.workgroupName } : { ClusterIdentifier: s.clusterIdentifier };
  const run = { "runId.$": "$.start.runId", "startedAt.$": "$.start.startedAt", "bucket.$": "$.start.bucket", "prefix.$": "$.start.prefix" };
  return {
    Comment: "One sync run over an unloaded table: UNLOAD to S3, one segment worker per file, then the run's finish (docs/scaling.md).",
    StartAt: S.start,
    TimeoutSeconds: UNLOAD_RUN_TIMEOUT_SECONDS,
    States: {
      // The execution's name is the run's id; its input may approve a held mirror run ({"approveMirror": true}).
      // (The result replaces the input: ResultPath left at its default "$".)
      [S.start]: { ...invoke(s.extractorArn, { step: "unload-start", "runId.$": "$$.Execution.Name", "input.$": "$$.Execution.Input" }), ResultSelector: { "start.$": "$.Payload" }, Next: S.skipped },
      [S.skipped]: { Type: "Choice", Choices: [{ Variable: "$.start.skipped", IsPresent: true, Next: S.skippedEnd }], Default: S.unload },
      [S.skippedEnd]: { Type: "Succeed" },
      [S.unload]: {
        Type: "Task",
        Resource: "arn:aws:states:::aws-sdk:redshiftdata:executeStatement",
        Parameters: { "Sql.$": "$.start.statement", Database: s.database, ...target, ...(s.secretArn ? { SecretArn: s.secretArn } : {}), StatementName: "auth0-sync-unload" },
        ResultSelector: { "Id.$": "$.Id" },
        ResultPath: "$.statement",
        Retry: [{ ErrorEquals: ["RedshiftData.ActiveStatementsExceededException", "RedshiftData.InternalServerException"], IntervalSeconds: 5, MaxAttempts: 5, BackoffRate: 2, JitterStrategy: "FULL" }],
        Catch: [catchAll],
        Next: S.wait,
      },
      [S.wait]: { Type: "Wait", Seconds: s.pollSeconds, Next: S.describe },
      [S.describe]: {
        Type: "Task",
        Resource: "arn:aws:states:::aws-sdk:redshiftdata:describeStatement",
        Parameters: { "Id.$": "$.statement.Id" },
        ResultPath: "$.described",
        Retry: [{ ErrorEquals: ["RedshiftData.InternalServerException"], IntervalSeconds: 5, MaxAttempts: 5, BackoffRate: 2 }],
        Catch: [catchAll],
        Next: S.finished,
      },
      [S.finished]: {
        Type: "Choice",
        Choices: [
          { Variable: "$.described.Status", StringEquals: "FINISHED", Next: S.plan },
          { Variable: "$.described.Status", StringEquals: "FAILED", Next: "UNLOAD failed" },
          { Variable: "$.described.Status", StringEquals: "ABORTED", Next: "UNLOAD aborted" },
        ],
        Default: S.wait,
      },
      "UNLOAD failed": { Type: "Pass", Parameters: { Error: "UnloadFailed", "Cause.$": "States.Format('the UNLOAD statement failed: {}', $.described.Error)" }, ResultPath: "$.error", Next: S.fail },
      "UNLOAD aborted": { Type: "Pass", Parameters: { Error: "UnloadAborted", Cause: "the UNLOAD statement was cancelled" }, ResultPath: "$.error", Next: S.fail },
      [S.plan]: { ...invoke(s.extractorArn, { step: "unload-plan", ...run }), ResultSelector: { "value.$": "$.Payload" }, ResultPath: "$.plan", Catch: [catchAll], Next: S.segments },
      [S.segments]: {
        Type: "Map",
        ItemReader: { Resource: "arn:aws:states:::s3:getObject", ReaderConfig: { InputType: "JSON" }, Parameters: { Bucket: s.bucket, "Key.$": "$.plan.value.itemsKey" } },
        ItemProcessor: {
          ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
          StartAt: S.segment,
          States: {
            [S.segment]: {
              ...invoke(s.segmentArn, { "runId.$": "$.runId", "segment.$": "$.segment" }),
              OutputPath: "$.Payload",
              // A worker that failed (a crash, a timeout, a throttled dependency) is run again: a finished segment
              // is recorded and sends nothing twice.
              Retry: [
                { ErrorEquals: LAMBDA_TRANSIENT, IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2, JitterStrategy: "FULL" },
                { ErrorEquals: ["States.ALL"], IntervalSeconds: 10, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: "FULL" },
              ],
              End: true,
            },
          },
        },
        MaxConcurrency: s.maxConcurrency,
        ToleratedFailurePercentage: 0,
        ResultPath: null,
        Catch: [catchAll],
        Next: S.finish,
      },
      [S.finish]: { ...invoke(s.extractorArn, { step: "unload-finish", ...run, "approveMirror.$": "$.start.approveMirror" }), ResultSelector: { "value.$": "$.Payload" }, OutputPath: "$.value", Catch: [catchAll], Next: S.done },
      [S.done]: { Type: "Succeed" },
      [S.fail]: { ...invoke(s.extractorArn, { step: "unload-fail", "runId.$": "$.start.runId", "startedAt.$": "$.start.startedAt", "error.$": "$.error" }), ResultPath: null, Next: S.failed },
      [S.failed]: { Type: "Fail", Error: "RunFailed", Cause: "The run did not finish; see the run's record (auth0-sync status) and the failed state's error." },
    },
  };
}
