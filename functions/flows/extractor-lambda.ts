/**
 * The extractor Lambda's invocation: one run's extract (extract-run.ts) over the given dependencies. The handler
 * module (functions/extractor/handler.ts) gives the production ones; the local runner and the tests give theirs.
 */
import { lambdaHandler, type DepsFactory } from "../commons/lambda.js";
import { runExtract, type ExtractorDeps, type ExtractorEvent, type ExtractorResult } from "./extract-run.js";

export type ExtractorDepsFactory = DepsFactory<ExtractorDeps>;

/** The extractor's handler over the given dependencies (made once per instance). */
export function createExtractorHandler(factory: ExtractorDepsFactory) {
  return lambdaHandler("extractor", factory, (deps, event: ExtractorEvent | undefined): Promise<ExtractorResult> => runExtract(deps, event ?? {}));
}
