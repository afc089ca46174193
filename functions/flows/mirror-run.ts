/**
 * Mirror mode at the end of a complete run, as the Data API extract and a run over an unloaded table both end:
 * every managed user of the ledger judged against the run's presence (core/mirror.ts), the blocks and deletes sent
 * unless the run is held, and a held run counted and logged with its reason.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { SyncConfig } from "../core/config.js";
import { MirrorPlanner, type MirrorPlan, type Presence } from "../core/mirror.js";
import type { RunAccounting } from "../core/outcomes.js";
import type { UserLedger } from "../adapters/ledger/users.js";
import { emitMetric } from "../adapters/runtime/metrics.js";
import type { OperationBuffer } from "./operation-buffer.js";

export async function runMirror(
  deps: { config: SyncConfig; logger: Logger; metrics: Metrics },
  users: UserLedger,
  presence: Presence,
  out: { buffer: OperationBuffer; accounting: RunAccounting },
  approved: boolean,
): Promise<MirrorPlan> {
  const planner = new MirrorPlanner(deps.config, presence);
  for await (const e of users.all()) planner.consider(e);
  const mirror = planner.result(approved);
  if (!mirror.held && mirror.ops.length > 0) {
    out.accounting.addAbsent(mirror.ops.length);
    out.buffer.push(mirror.ops);
    await out.buffer.flush();
  }
  if (mirror.held) {
    emitMetric(deps.metrics, "RunsHeld", 1);
    deps.logger.warn("mirror run held", { reason: mirror.heldReason, absent: mirror.absent, managed: mirror.managed });
  }
  return mirror;
}
