/**
 * The extractor Lambda's invocation: one run's extract (extract-run.ts) over the given dependencies, or, for a run
 * over an unloaded table, the step of it the state machine asks for (unload-run.ts). The handler module
 * (functions/extractor/handler.ts) gives the production dependencies; the local runner and the tests give theirs.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { SyncError } from "../core/errors.js";
import { unloads } from "../core/extract-config.js";
import { lambdaHandler, type DepsFactory } from "../commons/lambda.js";
import type { FailedRunState } from "../core/unload-resume.js";
import type { StatementState } from "../adapters/redshift/source.js";
import { describeMeasuredQuery, executeMeasuredQuery, readMeasuredResult, runExtract, type ExtractorDeps, type ExtractorEvent, type ExtractorResult } from "./extract-run.js";
import { failUnloadRun, finishUnloadRun, planSegments, startUnloadRun, type UnloadPlan, type UnloadResult, type UnloadResume, type UnloadRunDeps, type UnloadStart } from "./unload-run.js";

/** The extractor's dependencies, with what a run over an unloaded table needs besides. */
export type ExtractorLambdaDeps = ExtractorDeps & { unload?: { s3: S3Client; bucket: string } };
export type ExtractorDepsFactory = DepsFactory<ExtractorLambdaDeps>;

/** The steps of a run over an unloaded table, as the state machine's Tasks ask for them. */
export type UnloadStep =
  | { step: "unload-start"; runId?: string; input?: { approveMirror?: unknown } }
  | { step: "unload-plan"; runId: string; startedAt: number; bucket: string; prefix: string }
  | { step: "unload-finish"; runId: string; startedAt: number; bucket: string; prefix: string; approveMirror?: boolean }
  | { step: "query-execute"; runId: string }
  | { step: "query-describe"; statementId: string }
  | { step: "read-result"; runId: string; startedAt: number; statementId: string; approveMirror?: boolean }
  | { step: "unload-fail"; runId: string; startedAt: number; error: string | { Error?: string; Cause?: string }; redriveCount?: number; state?: FailedRunState };

/** A run of a config that unloads, asked of the extractor as a Data API extract: refused, saying what runs it. */
export class UnloadRunElsewhereError extends SyncError {
  override readonly name = "UnloadRunElsewhereError";
  readonly retryable = false;
  constructor() {
    super("this config unloads its table (source.unload, with source.extract auto or unload): a run is an execution of the stack's unload state machine (its schedule starts one), not an extractor invocation");
  }
}

function unloadDeps(deps: ExtractorLambdaDeps): UnloadRunDeps {
  if (!deps.unload || !deps.ledger || !deps.sqs || !deps.queueUrl) throw new Error("a run over an unloaded table needs S3, its bucket, the ledger and the queue");
  return { ...deps, ledger: deps.ledger, sqs: deps.sqs, queueUrl: deps.queueUrl, s3: deps.unload.s3, bucket: deps.unload.bucket };
}

export function runUnloadStep(deps: ExtractorLambdaDeps, event: UnloadStep): Promise<UnloadStart | UnloadPlan | UnloadResult | ExtractorResult | UnloadResume | { Id: string } | StatementState> {
  if (event.step === "query-execute") return executeMeasuredQuery(deps, event);
  if (event.step === "query-describe") return describeMeasuredQuery(deps, event);
  if (event.step === "read-result") return readMeasuredResult(deps, event);
  const d = unloadDeps(deps);
  switch (event.step) {
    case "unload-start":
      return startUnloadRun(d, event);
    case "unload-plan":
      return planSegments(d, event);
    case "unload-finish":
      return finishUnloadRun(d, event);
    case "unload-fail":
      return failUnloadRun(d, event);
  }
}

/** The extractor's handler for a Data API run over the given dependencies (made once per instance). */
export function createExtractorHandler(factory: ExtractorDepsFactory) {
  return lambdaHandler("extractor", factory, (deps, event: ExtractorEvent | undefined): Promise<ExtractorResult> => {
    if (unloads(deps.config.source)) return Promise.reject(new UnloadRunElsewhereError());
    return runExtract(deps, event ?? {});
  });
}

/** The extractor's handler for the state machine's steps of a run over an unloaded table. */
export function createUnloadStepHandler(factory: ExtractorDepsFactory) {
  return lambdaHandler("extractor", factory, (deps, event: UnloadStep) => runUnloadStep(deps, event));
}

export const isUnloadStep = (event: unknown): event is UnloadStep => typeof event === "object" && event !== null && "step" in event;
