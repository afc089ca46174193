import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ProgressLine } from "../../cli/progress.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";
import type { RunRecord } from "../../functions/adapters/ledger/ledger.js";
import { formatStatus } from "../../cli/format.js";
import type { StatusReport } from "../../cli/targets/target.js";

const report = (runs: RunRecord[], queued = 0): StatusReport => ({
  where: "the local state in .local-state",
  runs,
  queue: { visible: queued, inFlight: 0 },
  dlq: { visible: 0, inFlight: 0 },
  dlqSample: [],
});

describe("status explains pending users of runs that ended", () => {
  it("an interrupted run: how many it had sent and how many it read but never sent", () => {
    const run: RunRecord = {
      runId: "run-1",
      status: "interrupted",
      startedAt: "2026-11-23T10:00:00.000Z",
      error: "the extractor stopped after reading 3,000 rows (a Lambda timeout, a crash or a stopped local run); what it had sent is applied, the rest goes with the next run",
      summary: { rowsRead: 3000, unchanged: 500, rejected: 10, enqueued: 2000, partial: true },
      counts: { created: 1200 },
    };
    expect(formatStatus(report([run]))).toContain(
      "\nrun-1 was interrupted with 1,290 users pending: 800 sent (applied as the consumers get to them, or in the DLQ) and 490 read but never sent, which the next run sends.\n",
    );
  });

  it("a completed run with pending users and nothing queued: lost messages, not in flight", () => {
    const run: RunRecord = { runId: "run-2", status: "completed", startedAt: "2026-11-23T10:00:00.000Z", summary: { rowsRead: 2889, unchanged: 0, rejected: 0, enqueued: 2889 }, counts: { created: 1844 } };
    expect(formatStatus(report([run]))).toContain(
      "\nrun-2 has 1,045 users pending and nothing is queued or in the DLQ: their messages were lost (a local run stopped mid-consume) or a consumer stopped after applying them, before counting them; the next run sends again whatever is not applied.",
    );
    // While messages are queued, pending users are simply in flight: no note.
    expect(formatStatus(report([run], 3))).not.toContain("run-2 has");
  });
});

describe("progress lines", () => {
  const lines = (fn: (p: ProgressLine) => void) => {
    let out = "";
    fn(new ProgressLine({ isTTY: false, write: (s: string) => (out += s) }, true, 0));
    return out;
  };

  it("show the count without a total, the total once known, and never an empty count", () => {
    expect(lines((p) => p.update("extract", 0, 0, 4_000))).toBe("extract, 4 s\n");
    expect(lines((p) => p.update("extract", 1_274, 0, 4_000))).toBe("extract 1,274, 4 s\n");
    expect(lines((p) => p.update("extract", 1_274, 2_983, 4_000))).toBe("extract 1,274/2,983 (42%), 4 s, ETA 6 s\n");
  });

  it("a plain line is not repeated while nothing moves (issue 24: 'extract rows 0/0 done' over and over), the final one always", () => {
    const out = lines((p) => {
      for (const t of [1_000, 2_000, 3_000]) p.update("extract", 0, 0, t);
      p.update("extract", 10, 100, 4_000);
      p.update("extract", 10, 100, 5_000);
      p.update("done", 100, 100, 6_000, true);
      p.update("done", 100, 100, 6_000, true);
    });
    expect(out).toBe("extract, 1 s\nextract 10/100 (10%), 4 s, ETA 36 s\ndone    100/100 (100%), 6 s\ndone    100/100 (100%), 6 s\n");
  });
});

describe("the local run's progress", () => {
  it("counts outcomes against the statement's row count: never above it", async () => {
    const dir = tempDir();
    const seen: { phase: string; done: number; total: number }[] = [];
    await runLocalPipeline({ config: exampleConfigWith({ source: { pageSize: 10 } }), stateDir: join(dir, "state"), csv: writeCsv(join(dir, "u.csv"), demoRows(60)), rate: 500, onProgress: (p) => void seen.push(p) });
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.filter((p) => p.done > p.total)).toEqual([]);
    expect(seen.filter((p) => p.phase === "extract" && p.total > 0).every((p) => p.total === 60)).toBe(true);
    expect(seen.at(-1)).toMatchObject({ phase: "done", done: 60, total: 60 });
  }, 60_000);
});
