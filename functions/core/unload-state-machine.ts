/**
 * The state machine of a run over an unloaded table, as Amazon States Language: the one
 * definition the stack deploys (lib/unload-run.ts) and the local run executes (local/runtime/unload-run.ts). Pure:
 * names and ARNs in, a definition out.
 *
 *   Start (the extractor: the run lock, the statements)  -> skipped? -> Skipped (Succeed)
 *   extract auto (measured): Query (the extractor executes the SELECT itself, returning at once), Wait -> Describe
 *     query (the extractor: one DescribeStatement) -> FINISHED with ResultSize <= autoDataApiMaxMb -> Read result
 *     (the extractor reads it through the Data API) -> Done; FINISHED and larger, or refused as over the Data API's
 *     limit -> Unload. (The extractor runs these: only a statement's owner may describe and read it.)
 *   Unload: redshiftdata:executeStatement (an SDK integration: no Lambda waits)
 *   Wait -> Describe: redshiftdata:describeStatement -> FINISHED? / FAILED or ABORTED? / else Wait again
 *   Plan (the extractor: the manifest -> the segments, written to S3 as the Map's items)
 *   Segments: a DISTRIBUTED Map reading the items with an ItemReader, one segment worker per file, MaxConcurrency
 *     from the config, tolerated failures 0, each worker retried with backoff
 *   Finish (the extractor: the sum, mirror mode over the whole run, the record, the lock) -> Done
 *   any failure from Query or Unload on -> Note the attempt (the RedriveCount it happened in) -> Fail run (the
 *     extractor: recorded failed, the lock released; the Task itself fails, so the execution fails there). A redrive
 *     (RedriveExecution) reruns Fail run, which then takes the lock again and names where the run resumes
 *     (core/unload-resume.ts) -> Resume at -> that state.
 */
import { UNLOAD_RUN_TIMEOUT_SECONDS } from "./extract-config.js";
import { RESUMABLE_STATES, UNLOAD_STATES } from "./unload-resume.js";

export { UNLOAD_STATES };

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
  /**
   * extract: auto (a measured run): a result of at most this many bytes is read through the Data API, a larger one
   * unloaded. Absent: every run unloads (extract: unload).
   */
  autoDataApiMaxBytes?: number;
}


/** Lambda's own transient errors, retried on every Lambda task (as AWS recommends for lambda:invoke). */
const LAMBDA_TRANSIENT = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"];

const invoke = (functionArn: string, payload: Record<string, unknown>) => ({
  Type: "Task",
  Resource: "arn:aws:states:::lambda:invoke",
  Parameters: { FunctionName: functionArn, Payload: payload },
  Retry: [{ ErrorEquals: LAMBDA_TRANSIENT, IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2, JitterStrategy: "FULL" }],
});

const catchAll = { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: UNLOAD_STATES.failure };

/** A Data API statement run by SDK integrations: Execute, then a Wait / Describe loop (no Lambda waits). */
function statementStates(s: UnloadStateMachineSettings, names: { execute: string; wait: string; describe: string; next: string }, sqlPath: string, at: { id: string; described: string }, statementName: string) {
  const target = s.workgroupName ? { WorkgroupName: s.workgroupName } : { ClusterIdentifier: s.clusterIdentifier };
  return {
    [names.execute]: {
      Type: "Task",
      Resource: "arn:aws:states:::aws-sdk:redshiftdata:executeStatement",
      Parameters: { "Sql.$": sqlPath, Database: s.database, ...target, ...(s.secretArn ? { SecretArn: s.secretArn } : {}), StatementName: statementName },
      ResultSelector: { "Id.$": "$.Id" },
      ResultPath: at.id,
      Retry: [{ ErrorEquals: ["RedshiftData.ActiveStatementsExceededException", "RedshiftData.InternalServerException"], IntervalSeconds: 5, MaxAttempts: 5, BackoffRate: 2, JitterStrategy: "FULL" }],
      Catch: [catchAll],
      Next: names.wait,
    },
    [names.wait]: { Type: "Wait", Seconds: s.pollSeconds, Next: names.describe },
    [names.describe]: {
      Type: "Task",
      Resource: "arn:aws:states:::aws-sdk:redshiftdata:describeStatement",
      Parameters: { "Id.$": `${at.id}.Id` },
      ResultPath: at.described,
      Retry: [{ ErrorEquals: ["RedshiftData.InternalServerException"], IntervalSeconds: 5, MaxAttempts: 5, BackoffRate: 2 }],
      Catch: [catchAll],
      Next: names.next,
    },
  };
}

/** A statement that failed or was cancelled, as the error the Fail run step records. */
const statementEnded = (what: string, described: string) => ({
  failed: { Type: "Pass", Parameters: { Error: "StatementFailed", "Cause.$": `States.Format('the ${what} failed: {}', ${described}.Error)` }, ResultPath: "$.error", Next: UNLOAD_STATES.failure },
  aborted: { Type: "Pass", Parameters: { Error: "StatementAborted", Cause: `the ${what} was cancelled` }, ResultPath: "$.error", Next: UNLOAD_STATES.failure },
});

export function unloadStateMachineDefinition(s: UnloadStateMachineSettings): Record<string, unknown> {
  const S = UNLOAD_STATES;
  const measure = s.autoDataApiMaxBytes !== undefined;
  const run = { "runId.$": "$.start.runId", "startedAt.$": "$.start.startedAt", "bucket.$": "$.start.bucket", "prefix.$": "$.start.prefix" };
  const unloadEnded = statementEnded("UNLOAD statement", "$.described");
  const queryEnded = statementEnded("query", "$.measured");
  const measuredStates = measure
    ? {
        // The extractor's own statement (only its owner may describe and read it): executed and described by short
        // invocations, the Wait between them is the state machine's.
        [S.query]: { ...invoke(s.extractorArn, { step: "query-execute", "runId.$": "$.start.runId" }), ResultSelector: { "Id.$": "$.Payload.Id" }, ResultPath: "$.query", Catch: [catchAll], Next: S.waitQuery },
        [S.waitQuery]: { Type: "Wait", Seconds: s.pollSeconds, Next: S.describeQuery },
        [S.describeQuery]: {
          ...invoke(s.extractorArn, { step: "query-describe", "statementId.$": "$.query.Id" }),
          ResultSelector: { "Status.$": "$.Payload.Status", "ResultSize.$": "$.Payload.ResultSize", "Error.$": "$.Payload.Error", "TooLarge.$": "$.Payload.TooLarge" },
          ResultPath: "$.measured",
          Catch: [catchAll],
          Next: S.measured,
        },
        // The result's size decides: DescribeStatement's ResultSize (bytes; -1 when unknown, which unloads).
        [S.measured]: {
          Type: "Choice",
          Choices: [
            {
              And: [
                { Variable: "$.measured.Status", StringEquals: "FINISHED" },
                { Variable: "$.measured.ResultSize", NumericGreaterThanEquals: 0 },
                { Variable: "$.measured.ResultSize", NumericLessThanEquals: s.autoDataApiMaxBytes },
              ],
              Next: S.read,
            },
            { Variable: "$.measured.Status", StringEquals: "FINISHED", Next: S.unload },
            // The Data API's own refusal of a result over its limit: unloaded instead.
            { Variable: "$.measured.TooLarge", BooleanEquals: true, Next: S.unload },
            { Variable: "$.measured.Status", StringEquals: "FAILED", Next: "Query failed" },
            { Variable: "$.measured.Status", StringEquals: "ABORTED", Next: "Query aborted" },
          ],
          Default: S.waitQuery,
        },
        "Query failed": queryEnded.failed,
        "Query aborted": queryEnded.aborted,
        [S.read]: {
          ...invoke(s.extractorArn, { step: "read-result", "runId.$": "$.start.runId", "startedAt.$": "$.start.startedAt", "statementId.$": "$.query.Id", "approveMirror.$": "$.start.approveMirror" }),
          ResultSelector: { "value.$": "$.Payload" },
          OutputPath: "$.value",
          // Refused by the Data API as over its limit (before any page): unloaded instead.
          Catch: [{ ErrorEquals: ["ResultTooLargeError"], ResultPath: "$.refused", Next: S.unload }, catchAll],
          Next: S.done,
        },
      }
    : {};
  return {
    Comment: "One sync run over a table that may be unloaded: UNLOAD to S3, one segment worker per file, then the run's finish (docs/scaling.md).",
    StartAt: S.start,
    TimeoutSeconds: UNLOAD_RUN_TIMEOUT_SECONDS,
    States: {
      // The execution's name is the run's id; its input may approve a held mirror run ({"approveMirror": true}).
      // (The result replaces the input: ResultPath left at its default "$".)
      [S.start]: { ...invoke(s.extractorArn, { step: "unload-start", "runId.$": "$$.Execution.Name", "input.$": "$$.Execution.Input" }), ResultSelector: { "start.$": "$.Payload" }, Next: S.skipped },
      [S.skipped]: {
        Type: "Choice",
        Choices: [{ Variable: "$.start.skipped", IsPresent: true, Next: S.skippedEnd }, ...(measure ? [{ Variable: "$.start.measure", BooleanEquals: true, Next: S.query }] : [])],
        Default: S.unload,
      },
      [S.skippedEnd]: { Type: "Succeed" },
      ...measuredStates,
      ...statementStates(s, { execute: S.unload, wait: S.wait, describe: S.describe, next: S.finished }, "$.start.statement", { id: "$.statement", described: "$.described" }, "auth0-sync-unload"),
      [S.finished]: {
        Type: "Choice",
        Choices: [
          { Variable: "$.described.Status", StringEquals: "FINISHED", Next: S.plan },
          { Variable: "$.described.Status", StringEquals: "FAILED", Next: "UNLOAD failed" },
          { Variable: "$.described.Status", StringEquals: "ABORTED", Next: "UNLOAD aborted" },
        ],
        Default: S.wait,
      },
      "UNLOAD failed": unloadEnded.failed,
      "UNLOAD aborted": unloadEnded.aborted,
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
      // Every failure passes here: the attempt it happened in (the execution's RedriveCount) is kept on the state.
      [S.failure]: { Type: "Pass", Parameters: { "attempt.$": "$$.Execution.RedriveCount" }, ResultPath: "$.failure", Next: S.fail },
      // Records the failure and releases the lock, then fails itself (no Catch): the execution fails here, with the
      // run's error. A redrive reruns it with the same input and a higher RedriveCount: it resumes the run instead.
      [S.fail]: {
        ...invoke(s.extractorArn, { step: "unload-fail", "runId.$": "$.start.runId", "startedAt.$": "$.start.startedAt", "error.$": "$.error", "redriveCount.$": "$$.Execution.RedriveCount", "state.$": "$" }),
        ResultSelector: { "at.$": "$.Payload.at" },
        ResultPath: "$.resume",
        Next: S.resume,
      },
      [S.resume]: {
        Type: "Choice",
        Choices: RESUMABLE_STATES.filter((state) => measure || (state !== S.query && state !== S.waitQuery)).map((state) => ({ Variable: "$.resume.at", StringEquals: state, Next: state })),
        Default: S.failed,
      },
      [S.failed]: { Type: "Fail", Error: "RunFailed", Cause: "The run could not resume; see the run's record (auth0-sync status)." },
    },
  };
}
