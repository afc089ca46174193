/**
 * Every Lambda's handler, built the same way: the function's logger and metrics (powertools.ts), its dependencies
 * made once per instance on the first invocation (and made again after a failure to make them, so a missing secret
 * does not stick to the instance), the Lambda context in every log line, and the metrics flushed after each
 * invocation (also when it fails). A handler module gives its production dependencies and the flow it runs.
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { powertoolsOf, type FunctionName, type Powertools } from "./powertools.js";

/** Makes a function's dependencies from its logger and metrics: the production wiring, or a test's or the local runner's. */
export type DepsFactory<D> = (base: Powertools) => D | Promise<D>;

export function lambdaHandler<E, R, D>(fn: FunctionName, factory: DepsFactory<D>, body: (deps: D, event: E, context: Context, base: Powertools) => Promise<R>) {
  const base = powertoolsOf(fn);
  let deps: Promise<D> | undefined;
  return middy(async (event: E, context: Context): Promise<R> => {
    deps ??= Promise.resolve(factory(base)).catch((err: unknown) => {
      deps = undefined;
      throw err;
    });
    return body(await deps, event, context, base);
  })
    .use(injectLambdaContext(base.logger, { resetKeys: true }))
    .use(logMetrics(base.metrics));
}
