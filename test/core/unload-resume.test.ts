/**
 * Where a redriven run over an unloaded table resumes (core/unload-resume.ts): the first step that did not finish,
 * read from the state the failure step was given; and whether that step is a redrive's rerun or a failure.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RESUMABLE_STATES, UNLOAD_STATES as S, isRedriveOf, resumeAt } from "../../functions/core/unload-resume.js";

describe("resumeAt", () => {
  it("each step's failure resumes at that step, or at the first one safe to run again before it", () => {
    const start = { measure: false };
    expect(resumeAt({ start })).toBe(S.unload);
    expect(resumeAt({ start: { measure: true } })).toBe(S.query);
    // The measured query's result read halfway: the query again (its result is re-read whole).
    expect(resumeAt({ start: { measure: true } })).toBe(S.query);
    expect(resumeAt({ start, statement: { Id: "s" } })).toBe(S.unload);
    expect(resumeAt({ start, statement: { Id: "s" }, described: { Status: "FAILED" } })).toBe(S.unload);
    expect(resumeAt({ start: { measure: true }, statement: { Id: "s" }, described: { Status: "ABORTED" } })).toBe(S.unload);
    expect(resumeAt({ start, statement: { Id: "s" }, described: { Status: "FINISHED" } })).toBe(S.plan);
    // The map failed, or the finish after it: the map again (finished segments send nothing), then the finish.
    expect(resumeAt({ start, statement: { Id: "s" }, described: { Status: "FINISHED" }, plan: { value: { itemsKey: "k" } } })).toBe(S.segments);
  });

  it("never resumes past a step the state does not show finished", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.option(fc.constantFrom("FINISHED", "FAILED", "ABORTED", "STARTED")), fc.boolean(), fc.boolean(), (measure, status, executed, planned) => {
        const state = { start: { measure }, ...(executed ? { statement: { Id: "s" } } : {}), ...(status ? { described: { Status: status } } : {}), ...(planned ? { plan: {} } : {}) };
        const at = resumeAt(state);
        expect(RESUMABLE_STATES).toContain(at);
        if (at === S.plan) expect(executed && status === "FINISHED").toBe(true);
        if (at === S.segments) expect(planned).toBe(true);
        if (at === S.query) expect(measure && !executed && !planned).toBe(true);
      }),
    );
  });
});

describe("isRedriveOf", () => {
  it("a failure reached in the attempt the state was made in is not a redrive; the same step rerun by a redrive is", () => {
    expect(isRedriveOf(0, {})).toBe(false);
    expect(isRedriveOf(undefined, {})).toBe(false);
    expect(isRedriveOf(1, {})).toBe(true);
    // Resumed by the first redrive, then failed again: a failure; the second redrive reruns it.
    expect(isRedriveOf(1, { resume: { attempt: 1 } })).toBe(false);
    expect(isRedriveOf(2, { resume: { attempt: 1 } })).toBe(true);
  });
});
