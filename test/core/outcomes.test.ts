import { describe, expect, it } from "vitest";
import { RunAccounting } from "../../functions/core/outcomes.js";

describe("run accounting", () => {
  it("adds up: every row read ends in exactly one outcome", () => {
    const a = new RunAccounting();
    a.read(10);
    a.record("rejected", { code: "invalid_email" });
    a.record("rejected", { code: "invalid_email" });
    a.record("rejected", { code: "invalid_phone" });
    a.record("unchanged", { n: 2 });
    a.dispatch(5);
    expect(a.snapshot()).toMatchObject({ rowsRead: 10, rejected: 3, unchanged: 2, inFlight: 5, unaccounted: 0 });
    a.record("created", { n: 3, fromFlight: true });
    a.record("updated", { fromFlight: true });
    a.record("deadLettered", { fromFlight: true });
    expect(a.snapshot()).toMatchObject({ created: 3, updated: 1, deadLettered: 1, inFlight: 0, unaccounted: 0 });
    expect(a.topReasons()).toEqual([
      ["invalid_email", 2],
      ["invalid_phone", 1],
    ]);
  });

  it("shows a lost row as unaccounted and a double count as negative", () => {
    const a = new RunAccounting();
    a.read(3);
    a.record("created", { n: 2 });
    expect(a.unaccounted).toBe(1);
    a.record("updated", { n: 2 });
    expect(a.unaccounted).toBe(-1);
  });

  it("refuses to settle more rows than are in flight", () => {
    const a = new RunAccounting();
    a.dispatch(1);
    expect(() => a.record("created", { n: 2, fromFlight: true })).toThrow(/only 1 in flight/);
  });

  it("merges the figures of several parts", () => {
    const total = new RunAccounting();
    const ext = new RunAccounting();
    ext.read(4);
    ext.record("rejected", { code: "duplicate_key" });
    ext.dispatch(3);
    const con = new RunAccounting();
    con.record("created", { n: 3 });
    total.merge(ext.snapshot());
    total.merge(con.snapshot());
    expect(total.snapshot()).toMatchObject({ rowsRead: 4, rejected: 1, created: 3, inFlight: 3, rejectReasons: { duplicate_key: 1 } });
  });
});
