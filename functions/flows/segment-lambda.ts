/**
 * The segment worker Lambda's invocation: one segment of a run over an unloaded table (segment-run.ts), as the
 * Distributed Map's item gives it. The handler module (functions/segment/handler.ts) gives the production
 * dependencies; the local runner and the tests give theirs.
 */
import type { SegmentTally } from "../core/segments.js";
import { lambdaHandler, type DepsFactory } from "../commons/lambda.js";
import { runSegment, type SegmentDeps, type SegmentEvent } from "./segment-run.js";

export type SegmentDepsFactory = DepsFactory<SegmentDeps>;

export function createSegmentHandler(factory: SegmentDepsFactory) {
  return lambdaHandler("segment", factory, (deps, event: SegmentEvent): Promise<SegmentTally> => runSegment(deps, event));
}
