/**
 * An invocation of the writes queue (core/created-writes.ts): users consumers created, each with its Auth0 id,
 * whose roles and memberships are left. They run together through the user flow with their known ids (as an import
 * job's users do: import-run.ts), so their role assignments and organization joins are grouped across the whole
 * batch, up to a grouped call's worth, whichever invocation created them; each outcome (created) is recorded here.
 * A record that is not a batch of created users fails alone; a user that must be retried fails its run's records
 * (SQS delivers them again; the users of them already applied are repeats, not counted twice).
 */
import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import type { UserOperation } from "../core/operations.js";
import type { Outcome } from "../core/outcomes.js";
import { parseImportBatch } from "../adapters/sqs/import-message.js";
import { consumeOperations, type ConsumerDeps, type ImportedVerdict } from "./record-flow.js";
import { WriteGroups } from "./write-groups.js";

export interface CreatedWritesResult {
  response: SQSBatchResponse;
  outcomes: Partial<Record<Outcome, number>>;
}

interface RunUsers {
  records: string[];
  ops: UserOperation[];
  verdicts: Map<UserOperation, ImportedVerdict>;
}

export async function applyCreatedWrites(deps: ConsumerDeps, records: SQSRecord[], remainingMs: () => number): Promise<CreatedWritesResult> {
  const failed: string[] = [];
  const outcomes: Partial<Record<Outcome, number>> = {};
  // By run: a run's users are recorded under its id.
  const runs = new Map<string, RunUsers>();
  for (const r of records) {
    const parsed = parseImportBatch(r.body);
    if (!parsed.ok || parsed.message.kind !== "created") {
      deps.logger.error("malformed message on the writes queue", { messageId: r.messageId, reason: parsed.ok ? "not a batch of created users" : parsed.reason });
      failed.push(r.messageId);
      continue;
    }
    const run: RunUsers = runs.get(parsed.message.runId) ?? { records: [], ops: [], verdicts: new Map() };
    run.records.push(r.messageId);
    for (const u of parsed.message.users) {
      run.ops.push(u.op);
      // (Its consumer sent the invitation with the create.)
      run.verdicts.set(u.op, { imported: u.id, invited: true });
    }
    runs.set(parsed.message.runId, run);
  }
  for (const [runId, run] of runs) {
    const groups = new WriteGroups(deps.auth0, 1, { timeLeftMs: remainingMs, safetyMs: deps.safetyMs });
    try {
      const tally = await consumeOperations({ ...deps, groups, createdWrites: undefined, parallelism: Math.max(deps.parallelism ?? 4, 32) }, runId, run.ops, remainingMs, (n) => groups.opened(n), run.verdicts);
      for (const [o, n] of Object.entries(tally.outcomes)) outcomes[o as Outcome] = (outcomes[o as Outcome] ?? 0) + (n ?? 0);
    } catch (err) {
      deps.logger.warn("created users will be retried", { runId, users: run.ops.length, error: err instanceof Error ? err.message : String(err) });
      failed.push(...run.records);
    }
  }
  return { response: { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) }, outcomes };
}
