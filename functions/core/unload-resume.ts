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
  failure: "Note the attempt",
  fail: "Fail run",
  resume: "Resume at",
  failed: "Failed",
} as const;

/** The states a redriven run may resume at: each starts a step that is safe to run again. */
export const RESUMABLE_STATES = [UNLOAD_STATES.query, UNLOAD_STATES.waitQuery, UNLOAD_STATES.unload, UNLOAD_STATES.wait, UNLOAD_STATES.plan, UNLOAD_STATES.segments] as const;
export type ResumableState = (typeof RESUMABLE_STATES)[number];

/** The parts of the run's state (the Fail run Task's input) the decision reads. */
export interface FailedRunState {
  start?: { measure?: boolean };
  /** A measured run's query, once executed, and its last DescribeStatement. */
  query?: unknown;
  measured?: { Status?: string };
  /** UNLOAD's statement, once executed, and its last DescribeStatement. */
  statement?: unknown;
  described?: { Status?: string };
  /** The Plan step's result: the segments' items are written. */
  plan?: unknown;
  /** The failed state's error (Step Functions' Error name and Cause). */
  error?: { Error?: string } | string;
  /** The execution's RedriveCount when the failure was caught (stamped by the state machine). */
  failure?: { attempt?: number };
}

const TERMINAL = new Set(["FAILED", "ABORTED"]);
/** A Lambda that ran out of time: reading the same result again would too. */
const TIMED_OUT = new Set(["States.Timeout", "Sandbox.Timedout"]);

/**
 * The first step that did not finish, from what the state holds:
 * - the segments planned: the Map again (finished segments are recorded and return at once, sending nothing), then
 *   the finish (a finish that failed is run again after it);
 * - UNLOAD finished: the plan (its manifest is in S3); UNLOAD failed or cancelled: UNLOAD again (ALLOWOVERWRITE);
 *   UNLOAD executed and maybe still running (its wait failed): the wait, never a second UNLOAD into its prefix;
 * - a measured run: its query failed or was cancelled: the query again; its wait failed: the wait; its read
 *   failed: the query again (users a partial read sent and the consumers settled add no second outcome), or UNLOAD
 *   when the read ran out of Lambda's time (it would again);
 * - otherwise the first step after the start.
 */
export function resumeAt(state: FailedRunState): ResumableState {
  const S = UNLOAD_STATES;
  if (state.plan !== undefined) return S.segments;
  if (state.statement !== undefined) {
    const status = state.described?.Status;
    if (status === "FINISHED") return S.plan;
    return status !== undefined && TERMINAL.has(status) ? S.unload : S.wait;
  }
  if (state.query !== undefined) {
    const status = state.measured?.Status;
    if (status === undefined || !(status === "FINISHED" || TERMINAL.has(status))) return S.waitQuery;
    if (status !== "FINISHED") return S.query;
    const error = typeof state.error === "object" ? state.error.Error : undefined;
    return error !== undefined && TIMED_OUT.has(error) ? S.unload : S.query;
  }
  return state.start?.measure === true ? S.query : S.unload;
}

/**
 * Whether the Fail run Task is a redrive's rerun, not a failure reached in this attempt: the state machine stamps
 * the execution's RedriveCount on the state when it catches a failure, and a redrive reruns the Task with that
 * state and a higher count.
 */
export function isRedriveOf(redriveCount: number | undefined, state: Pick<FailedRunState, "failure">): boolean {
  return (redriveCount ?? 0) > (state.failure?.attempt ?? 0);
}
