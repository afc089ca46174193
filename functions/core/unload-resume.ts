/**
 * Where a redriven run over an unloaded table resumes (docs/scaling.md, "Redriving"). A failed execution ends in its
 * Fail run Task; Step Functions' RedriveExecution reruns that Task with the input it failed with, which is the state
 * the run had reached: what it holds says which step did not finish. Pure: the state machine's states' names, and a
 * decision over a state's input.
 */

/** The states' names: the definition uses them, the local runner binds its Tasks to them, the tests read them. */
export const UNLOAD_STATES = {
  start: "Start run",
  skipped: "Skipped?",
  skippedEnd: "Skipped",
  query: "Query",
  waitQuery: "Wait for query",
  describeQuery: "Describe query",
  measured: "Query measured?",
  read: "Read result",
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
  resume: "Resume at",
  failed: "Failed",
} as const;

/** The states a redriven run may resume at: each starts a step that is safe to run again. */
export const RESUMABLE_STATES = [UNLOAD_STATES.query, UNLOAD_STATES.unload, UNLOAD_STATES.plan, UNLOAD_STATES.segments] as const;
export type ResumableState = (typeof RESUMABLE_STATES)[number];

/** The parts of the run's state (the Fail run Task's input) the decision reads. */
export interface FailedRunState {
  start?: { measure?: boolean };
  /** UNLOAD's statement, once executed. */
  statement?: unknown;
  /** UNLOAD's last DescribeStatement. */
  described?: { Status?: string };
  /** The Plan step's result: the segments' items are written. */
  plan?: unknown;
}

/**
 * The first step that did not finish, from what the state holds:
 * - the segments planned: the Map again (finished segments are recorded and return at once, sending nothing), then
 *   the finish (a finish that failed is run again after it);
 * - UNLOAD finished: the plan (its manifest is in S3);
 * - UNLOAD executed but not finished (failed, aborted, or its wait failed): UNLOAD again (ALLOWOVERWRITE);
 * - a measured run before UNLOAD (its query failed, or reading its result did): the query again; the users a
 *   partial read had sent are settled once by the consumers (a repeat in the same run costs no call);
 * - otherwise UNLOAD.
 */
export function resumeAt(state: FailedRunState): ResumableState {
  if (state.plan !== undefined) return UNLOAD_STATES.segments;
  if (state.statement !== undefined) return state.described?.Status === "FINISHED" ? UNLOAD_STATES.plan : UNLOAD_STATES.unload;
  return state.start?.measure === true ? UNLOAD_STATES.query : UNLOAD_STATES.unload;
}

/**
 * Whether the Fail run Task is a redrive's rerun, not a failure reached in this attempt: a redrive raises the
 * execution's RedriveCount above the attempt the state was made in (recorded by the last resume, 0 before any).
 */
export function isRedriveOf(redriveCount: number | undefined, state: { resume?: { attempt?: number } }): boolean {
  return (redriveCount ?? 0) > (state.resume?.attempt ?? 0);
}
