import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../functions/core/config.js";
import { MirrorPlanner, RunPresence } from "../../functions/core/mirror.js";
import type { LedgerEntry } from "../../functions/core/records.js";
import { HashedPresence, ManifestError, SegmentPresence, bytesToHashes, hashesToBytes, segmentsFromManifest, sumSegments, type SegmentTally } from "../../functions/core/segments.js";

const manifest = (counts: number[]) => ({ entries: counts.map((n, i) => ({ url: `s3://b/unload/acme/run-1/000${i}_part_00.parquet`, meta: { content_length: 100, record_count: n } })) });
const tally = (index: number, rowsRead: number, more: Partial<SegmentTally> = {}): SegmentTally => ({ index, rowsRead, rejected: 0, unchanged: rowsRead, enqueued: 0, messages: 0, sqsRequests: 0, rejectReasons: {}, unkeyed: 0, ...more });

describe("segments of a run over an unloaded table", () => {
  it("come from the manifest in its order, each with the rows before it", () => {
    expect(segmentsFromManifest(manifest([3, 0, 5]), "b")).toEqual([
      { index: 0, bucket: "b", key: "unload/acme/run-1/0000_part_00.parquet", rows: 3, rowOffset: 0 },
      { index: 1, bucket: "b", key: "unload/acme/run-1/0001_part_00.parquet", rows: 0, rowOffset: 3 },
      { index: 2, bucket: "b", key: "unload/acme/run-1/0002_part_00.parquet", rows: 5, rowOffset: 3 },
    ]);
    expect(() => segmentsFromManifest({}, "b")).toThrow(ManifestError);
    expect(() => segmentsFromManifest({ entries: [{ url: "s3://other/x", meta: { record_count: 1 } }] }, "b")).toThrow(/not a file of s3:\/\/b\//);
    expect(() => segmentsFromManifest({ entries: [{ url: "s3://b/x", meta: {} }] }, "b")).toThrow(/MANIFEST VERBOSE/);
  });

  it("sum to the run's figures, each segment once; a missing or short segment makes the run incomplete", () => {
    const segs = segmentsFromManifest(manifest([3, 4, 5]), "b");
    const sum = sumSegments(segs, [tally(0, 3, { rejected: 1, rejectReasons: { invalid_email: 1 }, unchanged: 2 }), tally(1, 4), tally(2, 5, { unkeyed: 1, firstUnkeyedRow: 9 })]);
    expect(sum).toMatchObject({ rowsRead: 12, rejected: 1, unchanged: 11, rejectReasons: { invalid_email: 1 }, unkeyed: 1, firstUnkeyedRow: 9, segmentsDone: 3, segments: 3 });
    expect(sum.incomplete).toBeUndefined();
    expect(sumSegments(segs, [tally(0, 3), tally(2, 5)]).incomplete).toBe("1 of 3 segments did not finish (segment 1)");
    expect(sumSegments(segs, [tally(0, 3), tally(1, 3), tally(2, 5)]).incomplete).toMatch(/segment 1 read other than the manifest's row count/);
  });

  it("the hashed presence has every key a segment saw, through the keys files, as a run's presence has (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 30 }), { minLength: 1, maxLength: 4 }), fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 20 }), (segments, probes) => {
        const whole = new RunPresence();
        const files = segments.map((keys, s) => {
          const p = new SegmentPresence();
          keys.forEach((k, i) => (p.observe(k, s * 100 + i), whole.observe(k, s * 100 + i)));
          return bytesToHashes(hashesToBytes(p.sortedHashes()));
        });
        const hashed = new HashedPresence(files, 0);
        for (const k of [...segments.flat(), ...probes]) expect(hashed.has(k)).toBe(whole.has(k));
      }),
    );
  });

  it("mirror mode over the hashed presence: absent users only, and nothing while a row had no key", () => {
    const config = validateConfig({ name: "a-b", source: { workgroupName: "wg", database: "dev", sql: "SELECT 1" }, identity: { keyColumn: "id", emailColumn: "email" }, auth0: { domain: "a.auth0.com", connection: "c" }, mirror: { enabled: true, action: "delete", threshold: { maxCount: 10, maxShare: 1 } } });
    const entry = (key: string): LedgerEntry => ({ key, userId: `auth0|${key}`, managed: true });
    const seen = new SegmentPresence();
    seen.observe("a", 1);
    seen.observe("b", 2);
    const planner = new MirrorPlanner(config, new HashedPresence([seen.sortedHashes()], 0));
    for (const k of ["a", "b", "c"]) planner.consider(entry(k));
    expect(planner.result(false).ops.map((o) => o.key)).toEqual(["c"]);
    const unkeyed = new MirrorPlanner(config, new HashedPresence([seen.sortedHashes()], 1, 7));
    for (const k of ["a", "b", "c"]) unkeyed.consider(entry(k));
    expect(unkeyed.result(true)).toMatchObject({ ops: [], held: true, heldReason: expect.stringMatching(/1 row has an empty or invalid identity key \(id\): row 7/) });
  });
});
