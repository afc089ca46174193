/**
 * The consumer's work for one SQS record: each user operation planned by the core and applied through the
 * Auth0 adapter, with the ledger as memory. A permanent failure rejects that user with its reason; a retryable
 * one fails the record so SQS delivers it again (users already applied are then unchanged and cost no call).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSRecord } from "aws-lambda";
import type { SyncConfig } from "../core/config.js";
import type { Outcome, OutcomeSink } from "../core/outcomes.js";
import { decideUser, knownOrganizations, startUser } from "../core/decide.js";
import { diffRoles, organizationsChange } from "../core/plan.js";
import { hashKey } from "../core/profile.js";
import type { CurrentUser, Rejection } from "../core/types.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import type { Auth0Adapter } from "../adapters/auth0/client.js";
import type { Ledger, LedgerEntry } from "../adapters/ledger/ledger.js";
import type { WriteGroups, WriteSlot } from "./write-groups.js";
import { applyMemberRoles, applyMembershipsAlone, planMemberships, resolveOrganizations } from "./memberships.js";
import { OrganizationWriteError } from "../adapters/auth0/organizations.js";
import { opKey, parseMessage, type MirrorOperation, type SyncOperation, type UserOperation } from "../adapters/sqs/message.js";

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
}

export interface ConsumerCounters {
  ledgerWriteFailures: number;
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

/** A record that must be delivered again: a passing failure, or not started for lack of time. */
export class RetryableRecordError extends Error {
  readonly retryable = true;
  constructor(message: string) {
    super(message);
    this.name = "RetryableRecordError";
  }
}

export class MalformedMessageError extends Error {
  readonly retryable = false;
  constructor(
    readonly messageId: string,
    readonly reason: string,
  ) {
    super(`malformed message ${messageId}: ${reason}`);
    this.name = "MalformedMessageError";
  }
}

type Settled = Exclude<Outcome, "deadLettered">;
export type OpResult = { outcome: Settled; userId?: string; rejection?: Rejection; entry?: LedgerEntry | null } | { retry: string; createAttempted?: boolean };

/** What one user's attempt did that must outlive it: whether it sent a create (see core/decide.ts, own lost creates). */
interface Attempt {
  createSent: boolean;
  /** Where the roles it gains and the organizations it joins or leaves are grouped with other users' (absent: calls of its own). */
  groups?: WriteSlot;
}

export interface RecordTally {
  /** Users settled by this delivery, by outcome; users an earlier delivery of the same run settled are not in it. */
  outcomes: Partial<Record<Outcome, number>>;
  /** Users an earlier delivery of this run had already settled (a redelivered message). */
  repeats: number;
}

/**
 * Executes the core's decision for one user (core/decide.ts): the calls it needs, in order. `lookup` looks the user
 * up whatever the ledger says: after our create met a 409, or after a PATCH met a user deleted in Auth0.
 */
async function syncUser(
  deps: ConsumerDeps,
  runId: string,
  op: SyncOperation,
  entry: LedgerEntry | undefined,
  attempt: Attempt,
  how: { lookup: boolean; after409?: boolean; ownCreateMayHaveLanded?: boolean } = { lookup: false },
): Promise<OpResult> {
  const { config, auth0 } = deps;
  const reject = (r: Omit<Rejection, "row" | "keyLabel">): OpResult => ({ outcome: "rejected", rejection: { ...r, row: op.row, keyLabel: op.keyLabel } });
  const { desired, start, rolesToCheck } = startUser({ desired: op.desired, fingerprint: op.fingerprint, entry, config, hasLedger: deps.ledger !== undefined, lookup: how.lookup, observed: op.observed });
  if (start.kind === "unchanged") return { outcome: "unchanged", userId: start.userId };
  // Unknown role names and organizations reject the row before anything is written (per-process caches). With the
  // memberships known, only the organizations the change names are looked up: an unchanged membership costs none.
  if (rolesToCheck.length > 0) await auth0.roleIds(rolesToCheck);
  const orgIds = config.organizations && desired.organizations ? await resolveOrganizations(auth0, config.organizations, desired.organizations, knownOrganizations(start)) : undefined;
  const basis = start.kind === "ledger" ? "ledger" : start.kind === "create-first" ? "create-first" : "auth0";
  const current = start.kind === "ledger" || start.kind === "observed" ? start.current : start.kind === "lookup" ? await auth0.findByEmail(desired.email) : null;
  const decision = decideUser({ desired, entry, config, basis, current, after409: how.after409, ownCreateMayHaveLanded: how.ownCreateMayHaveLanded, repair: start.kind === "observed" });

  let userId: string;
  let created = false;
  switch (decision.write) {
    case "reject":
      return reject(decision.rejection);
    case "retry":
      throw new Auth0Error(decision.reason, { kind: "conflict", retryable: true });
    case "none":
      userId = decision.userId;
      break;
    case "patch":
      try {
        await auth0.patch(decision.userId, decision.patch);
      } catch (err) {
        // Deleted in Auth0 behind the sync's back: forget the ledger's id and start from what Auth0 holds.
        if ((start.kind === "ledger" || start.kind === "observed") && err instanceof Auth0Error && err.kind === "not_found") {
          return syncUser(deps, runId, op, undefined, attempt, { lookup: true });
        }
        throw err;
      }
      userId = decision.userId;
      break;
    case "create": {
      let user: CurrentUser;
      try {
        attempt.createSent = true;
        user = await auth0.create(decision.body);
      } catch (err) {
        // The user exists after all (a race, or our own create whose answer was lost): look it up and judge it.
        if (err instanceof Auth0Error && err.kind === "conflict" && !how.after409) {
          return syncUser(deps, runId, op, entry, attempt, { lookup: true, after409: true, ownCreateMayHaveLanded: err.earlierAttemptUnanswered });
        }
        throw err;
      }
      userId = user.user_id;
      created = true;
      const invite = config.create.inviteTicket;
      if (invite.enabled) {
        await auth0.passwordChangeTicket(userId, { resultUrl: invite.resultUrl, ttlSec: invite.ttlSec, markEmailAsVerified: invite.markEmailAsVerified });
      }
      break;
    }
  }
  let outcome: "created" | "updated" | "unchanged" = decision.outcome;
  const roles =
    config.roles && desired.roles
      ? diffRoles(desired.roles, created ? [] : ((start.kind === "ledger" || start.kind === "observed" ? start.rolesKnown : undefined) ?? (await auth0.userRoles(userId))), config.roles.removeUnlisted)
      : { add: [], remove: [] };
  const memberships =
    orgIds && config.organizations && desired.organizations
      ? await planMemberships(auth0, config.organizations, desired.organizations, created ? {} : start.kind === "ledger" || start.kind === "observed" ? start.organizationsKnown : undefined, userId, orgIds)
      : undefined;
  if (roles.add.length > 0 || roles.remove.length > 0 || (memberships && organizationsChange(memberships.change))) {
    // Grouped with the invocation's other users: role additions, organization joins and leaves. Additions before
    // removals, so a user changing roles is never left with none; removals (per user) whatever became of them. An
    // addition refused before the removals (a user at Auth0's role limit until they are done) is tried once more
    // after them; a membership that failed fails the user (retried, or rejected with Auth0's reason).
    let refused: Error | undefined;
    try {
      if (attempt.groups) await attempt.groups.add(userId, roles.add.length > 0 ? await auth0.roleIds(roles.add) : [], { join: memberships?.joinIds, leave: memberships?.leaveIds });
      else {
        // Alone, as grouped: the memberships are written whatever became of the roles, their failure wins.
        const [roleResult, memberResult] = await Promise.allSettled([auth0.assignRoles(userId, roles.add), memberships ? applyMembershipsAlone(auth0, memberships, userId) : Promise.resolve()]);
        if (memberResult.status === "rejected") throw memberResult.reason;
        if (roleResult.status === "rejected") throw roleResult.reason;
      }
    } catch (err) {
      refused = err instanceof Error ? err : new Error("grouped write failed", { cause: err });
    }
    await auth0.removeRoles(userId, roles.remove);
    if (refused !== undefined) {
      if (refused instanceof OrganizationWriteError || !(refused instanceof Auth0Error && !refused.retryable && roles.remove.length > 0)) throw refused;
      await auth0.assignRoles(userId, roles.add);
    }
    // Member roles need the membership: after the joins.
    if (memberships && config.organizations) await applyMemberRoles(auth0, config.organizations, memberships, userId);
    if (outcome === "unchanged") outcome = "updated";
  }
  const applied: LedgerEntry = { key: desired.key, userId, fingerprint: op.fingerprint, profile: desired, managed: true, lastRunSeen: runId, lastOutcome: outcome };
  return { outcome, userId, entry: applied };
}

async function mirrorUser(deps: ConsumerDeps, runId: string, op: MirrorOperation, entry: LedgerEntry | undefined): Promise<OpResult> {
  const { auth0 } = deps;
  if (!entry || !entry.managed || entry.userId !== op.userId) {
    // The ledger changed since the extractor looked (the user came back, or was handled): leave it alone.
    return { outcome: "unchanged", userId: op.userId };
  }
  try {
    if (op.kind === "delete") {
      await auth0.delete(op.userId);
      return { outcome: "deleted", userId: op.userId, entry: null };
    }
    if (entry.blockedAt) return { outcome: "unchanged", userId: op.userId };
    await auth0.block(op.userId);
    return { outcome: "blocked", userId: op.userId, entry: { ...entry, blockedAt: new Date().toISOString(), lastOutcome: "blocked", lastRunSeen: runId } };
  } catch (err) {
    if (err instanceof Auth0Error && err.kind === "not_found") return { outcome: "deleted", userId: op.userId, entry: null };
    throw err;
  }
}

async function applyOperation(deps: ConsumerDeps, runId: string, op: UserOperation, entry: LedgerEntry | undefined, groups?: WriteSlot): Promise<OpResult> {
  const { config } = deps;
  const attempt: Attempt = { createSent: false, groups };
  try {
    const res = op.kind === "sync" ? await syncUser(deps, runId, op, entry, attempt) : await mirrorUser(deps, runId, op, entry);
    if ("retry" in res) return { ...res, createAttempted: attempt.createSent };
    // The ledger follows Auth0: written after the write succeeded, so a retry finds the user applied.
    if (deps.ledger) {
      if (res.outcome === "rejected" && res.entry === undefined) {
        // Only the rejection's reason is lost if this note fails: the rejection stands.
        await deps.ledger.recordOutcome(opKey(op), "rejected", res.rejection?.reason, runId).catch((err: unknown) => ledgerWriteFailed(deps, runId, opKey(op), "the rejection", err));
        return res;
      }
      try {
        if (res.entry) await deps.ledger.put(res.entry);
        else if (res.entry === null) await deps.ledger.delete(opKey(op));
      } catch (err) {
        const what = res.entry ? "the applied profile, after the Auth0 write" : "the deletion, after the Auth0 write";
        return { retry: ledgerWriteFailed(deps, runId, opKey(op), what, err), createAttempted: attempt.createSent };
      }
    }
    return res;
  } catch (err) {
    if (err instanceof Auth0Error && !err.retryable) {
      const rejection: Rejection = {
        code: err.rejectCode,
        field:
          err.field ??
          (err.kind === "unknown_role" ? (config.roles?.column ?? "roles") : err.kind === "unknown_organization" || err instanceof OrganizationWriteError ? (config.organizations?.column ?? "organizations") : "auth0"),
        reason: err.auth0Message ?? err.message,
        row: op.kind === "sync" ? op.row : undefined,
        keyLabel: op.keyLabel,
      };
      await deps.ledger?.recordOutcome(opKey(op), "rejected", rejection.reason, runId).catch((err: unknown) => ledgerWriteFailed(deps, runId, opKey(op), "the rejection", err));
      return { outcome: "rejected", rejection };
    }
    return { retry: err instanceof Error ? err.message : String(err), createAttempted: attempt.createSent };
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
  const entries = deps.ledger ? await deps.ledger.getMany(ops.map(opKey)) : new Map<string, LedgerEntry>();
  open(ops.length);
  const tally: RecordTally = { outcomes: {}, repeats: 0 };
  const retries: string[] = [];
  const safetyMs = deps.safetyMs ?? 10_000;
  const queue = [...ops];
  const where = (op: UserOperation) => (op.kind === "sync" ? `row ${op.row}` : `${op.kind} ${op.keyLabel}`);
  const settle = async (op: UserOperation, repeat: boolean, res: OpResult) => {
    const key = opKey(op);
    const keyHash = hashKey(key);
    const row = op.kind === "sync" ? op.row : undefined;
    if ("retry" in res) {
      retries.push(`${where(op)}: ${res.retry}`);
      logger.warn("user will be retried", { runId, row, keyHash, reason: res.retry });
      await deps.ledger?.recordFailure(key, res.retry, { createAttempted: res.createAttempted }).catch((err: unknown) => ledgerWriteFailed(deps, runId, key, "the retry's reason", err));
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
        retries.push(`${where(op)}: not started, Lambda time nearly over`);
        continue;
      }
      const entry = entries.get(opKey(op));
      // Settled by an earlier delivery of this run: redone or skipped, but not counted twice.
      const repeat = (entry?.lastRunSeen === runId && entry.lastOutcome !== undefined) || (op.kind !== "sync" && !entry);
      const parked = new Promise<void>((resolve) => slot && (slot.onPark = resolve));
      const current = op;
      const run = applyOperation(deps, runId, current, entry, slot)
        .finally(() => slot?.release())
        .then((res) => settle(current, repeat, res));
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
  // The run's live counts (what `auth0-sync run` follows), also when some users of the record must be retried.
  await deps.ledger?.addRunCounts(runId, tally.outcomes);
  if (retries.length > 0) {
    throw new RetryableRecordError(`${retries.length} of ${ops.length} users must be retried; first: ${retries[0]}`);
  }
  return tally;
}
