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
    const measured = { measure: true };
    expect(resumeAt({ start })).toBe(S.unload);
    expect(resumeAt({ start: measured })).toBe(S.query);
    // The query: failed (again), its wait failed (the wait: it may still run), its read failed (the query again; UNLOAD when the read ran out of time).
    expect(resumeAt({ start: measured, query: { Id: "q" }, measured: { Status: "FAILED" } })).toBe(S.query);
    expect(resumeAt({ start: measured, query: { Id: "q" } })).toBe(S.waitQuery);
    expect(resumeAt({ start: measured, query: { Id: "q" }, measured: { Status: "STARTED" } })).toBe(S.waitQuery);
    expect(resumeAt({ start: measured, query: { Id: "q" }, measured: { Status: "FINISHED" }, error: { Error: "SQS.ServiceUnavailable" } })).toBe(S.query);
    expect(resumeAt({ start: measured, query: { Id: "q" }, measured: { Status: "FINISHED" }, error: { Error: "States.Timeout" } })).toBe(S.unload);
    // UNLOAD executed, its wait failed: never a second UNLOAD into the same prefix while the first may run.
    expect(resumeAt({ start, statement: { Id: "s" } })).toBe(S.wait);
    expect(resumeAt({ start, statement: { Id: "s" }, described: { Status: "STARTED" } })).toBe(S.wait);
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
        if (at === S.unload) expect(!executed || status === "FAILED" || status === "ABORTED").toBe(true);
      }),
    );
  });
});

describe("isRedriveOf", () => {
  it("a failure caught in the attempt the Fail run step runs in is not a redrive; the same step rerun by a redrive is", () => {
    expect(isRedriveOf(0, { failure: { attempt: 0 } })).toBe(false);
    expect(isRedriveOf(undefined, {})).toBe(false);
    expect(isRedriveOf(1, { failure: { attempt: 0 } })).toBe(true);
    // A redriven Start run, then a real failure: stamped with the attempt it happened in, a failure.
    expect(isRedriveOf(1, { failure: { attempt: 1 } })).toBe(false);
    expect(isRedriveOf(2, { failure: { attempt: 1 } })).toBe(true);
  });
});
