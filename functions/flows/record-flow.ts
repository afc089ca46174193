/**
 * One SQS record of the consumer: its operations each through the user flow (user-flow.ts), a few at once, with the
 * ledger as memory: read before, written after each Auth0 write succeeded (so a retry finds the user applied). A
 * permanent failure rejects that user with its reason; a passing one fails the record, so SQS delivers it again
 * (users already applied are then unchanged and cost no call).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSRecord } from "aws-lambda";
import type { SyncConfig } from "../core/config.js";
import { SyncError } from "../core/errors.js";
import { opKey, opWhere, type OpResult, type UserOperation } from "../core/operations.js";
import type { Outcome, OutcomeSink } from "../core/outcomes.js";
import { createdSoFar } from "../core/created-writes.js";
import { settledInRun } from "../core/decide.js";
import { fingerprint } from "../core/fingerprint.js";
import { hashKey } from "../core/profile.js";
import type { LedgerEntry } from "../core/records.js";
import type { ImportEntry } from "../core/import-batches.js";
import type { Rejection } from "../core/types.js";
import { encodeImportBatch } from "../adapters/sqs/import-message.js";
import type { QueueSender } from "../adapters/sqs/sender.js";
import type { Auth0Adapter } from "../adapters/auth0/client.js";
import type { Ledger } from "../adapters/ledger/ledger.js";
import { parseMessage } from "../adapters/sqs/message.js";
import { runUserFlow } from "./user-flow.js";
import type { WriteGroups } from "./write-groups.js";

export interface ConsumerDeps {
  config: SyncConfig;
  auth0: Auth0Adapter;
  logger: Logger;
  /** The sync ledger; without it every user is looked up by email. */
  ledger?: Ledger;
  onOutcome?: OutcomeSink;
  /** Stop starting Auth0 writes when less than this much Lambda time is left. */
  safetyMs?: number;
  /** User operations of one message worked on at once (the pacer sets the pace). */
  parallelism?: number;
  /** Ledger writes that failed (the handler emits the LedgerWriteFailures metric from it). */
  counters?: ConsumerCounters;
  /** This invocation's grouped writes (write-groups.ts); without it each user's roles and memberships are calls of its own. */
  groups?: WriteGroups;
  /**
   * The writes queue (core/created-writes.ts): a user this consumer creates, with roles or memberships, goes there
   * with its id, and its writes are grouped across invocations. Without it they are grouped in the invocation.
   */
  createdWrites?: QueueSender;
}

export interface ConsumerCounters {
  ledgerWriteFailures: number;
}

/** A record that must be delivered again: a passing failure, or not started for lack of time. */
export class RetryableRecordError extends SyncError {
  override readonly name = "RetryableRecordError";
  readonly retryable = true;
}

/** A body that is not a message of ours: never retried forever (it reaches the DLQ after maxReceiveCount). */
export class MalformedMessageError extends SyncError {
  override readonly name = "MalformedMessageError";
  readonly retryable = false;
  constructor(
    readonly messageId: string,
    readonly reason: string,
  ) {
    super(`malformed message ${messageId}: ${reason}`);
  }
}

export interface RecordTally {
  /** Users settled by this delivery, by outcome; users an earlier delivery of the same run settled are not in it. */
  outcomes: Partial<Record<Outcome, number>>;
  /** Users an earlier delivery of this run had already settled (a redelivered message). */
  repeats: number;
}

/**
 * A ledger write failed: logged with the key's hash and counted, never swallowed. After an Auth0 write the user is
 * retried (the retry finds the user in Auth0 and records it); a bookkeeping write (a rejection's reason, a retry's
 * last error) only loses that note.
 */
function ledgerWriteFailed(deps: ConsumerDeps, runId: string, key: string, what: string, err: unknown): string {
  const error = err instanceof Error ? err.message : String(err);
  if (deps.counters) deps.counters.ledgerWriteFailures++;
  deps.logger.error("ledger write failed", { runId, keyHash: hashKey(key), write: what, error });
  return `ledger write failed (${what}): ${error}`;
}

/** The user flow's result, recorded: the ledger follows Auth0 (a failed write after an Auth0 write is a retry). */
/**
 * The operation's result written to the ledger; `settledBefore` when the write found the key already settled in
 * this run: another delivery of the same user (a message sent twice, a segment retried) got there first, in parallel
 * with this one, and counted it.
 */
async function recorded(deps: ConsumerDeps, runId: string, op: UserOperation, res: OpResult): Promise<{ res: OpResult; settledBefore: boolean }> {
  const ledger = deps.ledger;
  if (ledger && "deferred" in res && op.kind === "sync") {
    // Created, its roles and memberships to follow from the writes queue: the ledger holds the user as created so
    // far (no role, no membership), counted created now; the writes queue's record of it is a repeat.
    const applied = createdSoFar(op.desired);
    try {
      const before = await ledger.users.put({ key: op.desired.key, userId: res.deferred, fingerprint: fingerprint(applied), profile: applied, managed: true, lastRunSeen: runId, lastOutcome: "created" });
      return { res, settledBefore: settledInRun(before, runId) };
    } catch (err) {
      return { res: { retry: ledgerWriteFailed(deps, runId, op.desired.key, "the created user, before its roles", err), createAttempted: true }, settledBefore: false };
    }
  }
  if (!ledger || !("outcome" in res)) return { res, settledBefore: false };
  const key = opKey(op);
  if (res.outcome === "rejected" && res.entry === undefined) {
    // Only the rejection's reason is lost if this note fails: the rejection stands.
    const before = await ledger.users.recordOutcome(key, "rejected", res.rejection?.reason, runId).catch((err: unknown) => ledgerWriteFailed(deps, runId, key, "the rejection", err));
    return { res, settledBefore: typeof before === "object" && settledInRun(before, runId) };
  }
  try {
    if (res.entry) return { res, settledBefore: settledInRun(await ledger.users.put(res.entry), runId) };
    if (res.entry === null) {
      const before = await ledger.users.delete(key);
      return { res, settledBefore: settledInRun(before, runId) || (!before.existed && op.kind !== "sync") };
    }
  } catch (err) {
    const what = res.entry ? "the applied profile, after the Auth0 write" : "the deletion, after the Auth0 write";
    // A create this attempt sent may have landed: the retry's 409 must know the user can be our own.
    return { res: { retry: ledgerWriteFailed(deps, runId, key, what, err), createAttempted: res.createSent === true }, settledBefore: false };
  }
  return { res, settledBefore: false };
}

/**
 * Users created here go to the writes queue, one message each (its event source gathers a grouped call's worth);
 * an import job's users together (`together`): a job's thousand users already are many grouped calls' worth.
 */
async function deferCreated(deps: ConsumerDeps, runId: string, users: ImportEntry[], retries: string[], together = false): Promise<void> {
  if (users.length === 0 || !deps.createdWrites) return;
  try {
    const batches = together ? [users] : users.map((u) => [u]);
    await deps.createdWrites.send(batches.flatMap((b) => encodeImportBatch({ kind: "created", runId, batchId: `created-${b[0]!.id}`, users: b })));
  } catch (err) {
    // The ledger holds each user as created so far: the record delivered again applies their roles itself.
    const reason = `sending its roles and memberships to the writes queue failed: ${err instanceof Error ? err.message : String(err)}`;
    for (const u of users) retries.push(`${opWhere(u.op)}: ${reason}`);
  }
}

/** Processes one record; throws (failing the record) when any operation must be retried. */
export async function consumeRecord(deps: ConsumerDeps, record: SQSRecord, remainingMs: () => number): Promise<RecordTally> {
  let opened = false;
  const open = (operations: number) => {
    if (!opened) deps.groups?.opened(operations);
    opened = true;
  };
  try {
    return await consumeOpened(deps, record, remainingMs, open);
  } finally {
    // A record that failed before its operations started must not keep the invocation's role groups waiting.
    open(0);
  }
}

async function consumeOpened(deps: ConsumerDeps, record: SQSRecord, remainingMs: () => number, open: (operations: number) => void): Promise<RecordTally> {
  const { logger } = deps;
  const parsed = parseMessage(record.body);
  if (!parsed.ok) {
    logger.error("malformed message", { messageId: record.messageId, reason: parsed.reason });
    throw new MalformedMessageError(record.messageId, parsed.reason);
  }
  const { runId, ops } = parsed.message;
  return consumeOperations(deps, runId, ops, remainingMs, open);
}

/**
 * What an import job already decided for a user (import-run.ts): created with this id (its roles and memberships
 * are left to do), or rejected with the job's reason.
 */
export type ImportedVerdict = { imported: string; invited?: boolean } | { rejected: Rejection };

/**
 * Operations each through the user flow and recorded: a record's, or an import batch's users after its job
 * (`verdicts`). Throws a RetryableRecordError when any must be retried.
 */
export async function consumeOperations(
  deps: ConsumerDeps,
  runId: string,
  ops: UserOperation[],
  remainingMs: () => number,
  open: (operations: number) => void,
  verdicts?: Map<UserOperation, ImportedVerdict>,
): Promise<RecordTally> {
  const { logger } = deps;
  const entries = deps.ledger ? await deps.ledger.users.getMany(ops.map(opKey)) : new Map<string, LedgerEntry>();
  open(ops.length);
  const flow = { config: deps.config, auth0: deps.auth0, hasLedger: deps.ledger !== undefined, deferCreated: deps.createdWrites !== undefined };
  const tally: RecordTally = { outcomes: {}, repeats: 0 };
  const retries: string[] = [];
  /** Users created here whose roles and memberships go to the writes queue (settled there). */
  const deferred: ImportEntry[] = [];
  const safetyMs = deps.safetyMs ?? 10_000;
  const queue = [...ops];
  const settle = async (op: UserOperation, repeat: boolean, res: OpResult) => {
    const key = opKey(op);
    const keyHash = hashKey(key);
    const row = op.kind === "sync" ? op.row : undefined;
    if ("retry" in res) {
      retries.push(`${opWhere(op)}: ${res.retry}`);
      logger.warn("user will be retried", { runId, row, keyHash, reason: res.retry });
      await deps.ledger?.users.recordFailure(key, res.retry, { createAttempted: res.createAttempted }).catch((err: unknown) => ledgerWriteFailed(deps, runId, key, "the retry's reason", err));
      return;
    }
    if ("deferred" in res) {
      if (op.kind === "sync") deferred.push({ id: res.deferred, op });
      if (repeat) tally.repeats++;
      else tally.outcomes.created = (tally.outcomes.created ?? 0) + 1;
      logger.debug("user synced", { runId, row, keyHash, outcome: "created", rolesFollow: true });
      deps.onOutcome?.({ runId, key, keyLabel: op.keyLabel, row, outcome: "created", userId: res.deferred });
      return;
    }
    if (repeat) tally.repeats++;
    else tally.outcomes[res.outcome] = (tally.outcomes[res.outcome] ?? 0) + 1;
    if (res.outcome === "rejected") {
      logger.warn("user rejected", { runId, row, keyHash, code: res.rejection?.code, field: res.rejection?.field, reason: res.rejection?.reason });
    } else {
      logger.debug("user synced", { runId, row, keyHash, outcome: res.outcome });
    }
    deps.onOutcome?.({ runId, key, keyLabel: op.keyLabel, row, outcome: res.outcome, userId: res.userId, rejection: res.rejection });
  };
  // Operations parked on their role groups still run; their worker goes on with the next operation meanwhile.
  const running: Promise<void>[] = [];
  const worker = async () => {
    for (let op = queue.shift(); op; op = queue.shift()) {
      const slot = deps.groups?.slot();
      if (remainingMs() < safetyMs) {
        slot?.release();
        retries.push(`${opWhere(op)}: not started, Lambda time nearly over`);
        continue;
      }
      const entry = entries.get(opKey(op));
      // Settled by an earlier delivery of this run: redone or skipped, but not counted twice.
      const repeat = settledInRun(entry, runId) || (op.kind !== "sync" && !entry);
      const parked = new Promise<void>((resolve) => slot && (slot.onPark = resolve));
      const current = op;
      const verdict = verdicts?.get(op);
      const outcome: Promise<OpResult> =
        verdict && "rejected" in verdict ? Promise.resolve({ outcome: "rejected", rejection: verdict.rejected }) : runUserFlow(flow, runId, current, entry, slot, verdict ? { userId: verdict.imported, invited: verdict.invited } : undefined);
      const run = outcome
        .finally(() => slot?.release())
        .then((res) => recorded(deps, runId, current, res))
        .then(({ res, settledBefore }) => settle(current, repeat || settledBefore, res));
      running.push(run);
      // A failure is the record's (Promise.all below), not this worker's: the operations after it still run.
      await (slot ? Promise.race([run, parked]) : run).catch(() => undefined);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.parallelism ?? 4, ops.length)) }, worker));
  } finally {
    // Operations a failed worker never started will not add to the role groups either.
    for (let op = queue.shift(); op; op = queue.shift()) deps.groups?.slot().release();
  }
  await Promise.all(running);
  await deferCreated(deps, runId, deferred, retries, verdicts !== undefined);
  // The run's live counts (what `auth0-sync run` follows), also when some users of the record must be retried.
  await deps.ledger?.runs.addCounts(runId, tally.outcomes);
  if (retries.length > 0) {
    throw new RetryableRecordError(`${retries.length} of ${ops.length} users must be retried; first: ${retries[0]}`);
  }
  return tally;
}
