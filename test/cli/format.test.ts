import { describe, expect, it } from "vitest";
import type { RunRecord } from "../../functions/adapters/ledger/ledger.js";
import { formatStatus } from "../../cli/format.js";
import type { StatusReport } from "../../cli/target.js";

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
    const run: RunRecord = { runId: "run-2", status: "completed", startedAt: "2026-11-23T10:00:00.000Z", summary: { rowsRead: 2889, unchanged: 0, rejected: 0 }, counts: { created: 1844 } };
    expect(formatStatus(report([run]))).toContain(
      "\nrun-2 has 1,045 users pending and nothing is queued or in the DLQ: their messages were lost (a local run stopped mid-consume) or a consumer stopped after applying them, before counting them; the next run sends again whatever is not applied.",
    );
    // While messages are queued, pending users are simply in flight: no note.
    expect(formatStatus(report([run], 3))).not.toContain("run-2 has");
  });
});
