/**
 * The local runtime's public surface: the whole pipeline on one machine, with no AWS and (by default) no Auth0.
 * `runtime/environment.ts` starts the stand-ins, `runtime/sqs-event-source.ts` plays Lambda's SQS event source,
 * `runtime/run.ts` runs one sync through them, and `runtime/reconcile.ts` one reconcile.
 */
export { LocalEnvironment, type Chaos, type LocalEnvironmentOptions, type PeekedMessage } from "./runtime/environment.js";
export { reportOfLocalRun, runLocalPipeline, type LocalRunOptions, type LocalRunSummary, type Progress } from "./runtime/run.js";
export { runLocalReconcile, type LocalReconcileOptions, type LocalReconcileSummary } from "./runtime/local-reconcile.js";
export { runLocalWatch, type LocalWatchOptions, type LocalWatchSummary } from "./runtime/local-watch.js";
