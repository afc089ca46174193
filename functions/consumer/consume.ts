/**
 * The consumer's work for one SQS record: each user operation planned by the core and applied through the
 * Auth0 adapter, with the ledger as memory. A permanent failure rejects that user with its reason; a retryable
 * one fails the record so SQS delivers it again (users already applied are then unchanged and cost no call).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSRecord } from "aws-lambda";
import type { SyncConfig } from "../core/config.js";
import type { Outcome, OutcomeSink } from "../core/outcomes.js";
import { diffRoles, plan } from "../core/plan.js";
import { hashKey } from "../core/profile.js";
import type { CurrentUser, DesiredProfile, JsonObject, Rejection } from "../core/types.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import type { Auth0Adapter } from "../adapters/auth0/client.js";
import { isApplied, type Ledger, type LedgerEntry } from "../adapters/ledger/ledger.js";
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
export type OpResult = { outcome: Settled; userId?: string; rejection?: Rejection; entry?: LedgerEntry | null } | { retry: string };

export interface RecordTally {
  /** Users settled by this delivery, by outcome; users an earlier delivery of the same run settled are not in it. */
  outcomes: Partial<Record<Outcome, number>>;
  /** Users an earlier delivery of this run had already settled (a redelivered message). */
  repeats: number;
}

/** The Auth0 user as the sync last left it, rebuilt from the ledger: the base of a patch with no lookup. */
export function userFromLedger(userId: string, p: DesiredProfile): CurrentUser {
  const u: CurrentUser = { user_id: userId, email: p.email };
  const rec = u as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(p.fields)) if (v !== null && v !== undefined) rec[k] = v;
  const nonNull = (o: JsonObject) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null)) as JsonObject;
  u.user_metadata = nonNull(p.user_metadata);
  u.app_metadata = nonNull(p.app_metadata);
  return u;
}

const keysOf = (o: JsonObject | undefined) => Object.keys(o ?? {});

/**
 * How the current user is found: "ledger" (the last applied profile, no call), "create" (a key the ledger never
 * saw: create first, one call) or "lookup" (users-by-email). After a create answered 409 the user is always
 * looked up ("after409"), and then judged like any looked-up user: the identity check and the mode apply.
 */
interface Resolution {
  after409: boolean;
  lookupFirst: boolean;
  /** The 409 followed an unanswered attempt of our own create, which may have landed (see Auth0Error). */
  ownCreateMayHaveLanded?: boolean;
}

async function syncUser(deps: ConsumerDeps, runId: string, op: SyncOperation, entry: LedgerEntry | undefined, how: Resolution = { after409: false, lookupFirst: false }): Promise<OpResult> {
  const { config, auth0 } = deps;
  let desired = op.desired;
  const reject = (r: Omit<Rejection, "row" | "keyLabel">): OpResult => ({ outcome: "rejected", rejection: { ...r, row: op.row, keyLabel: op.keyLabel } });
  // A user mirror mode blocked is back in the table: unblock it unless the mapping says otherwise.
  if (entry?.blockedAt && desired.fields.blocked === undefined) desired = { ...desired, fields: { ...desired.fields, blocked: false } };
  if (isApplied(entry, op.fingerprint)) {
    // Applied already (a redelivered message): nothing to do, no call.
    return { outcome: "unchanged", userId: entry.userId };
  }
  // Unknown role names reject the row before anything is written (names resolve from a per-process cache);
  // roles the ledger says were applied are known to exist and cost no lookup.
  const lastRoles = entry?.profile?.roles;
  const rolesChanged = !lastRoles || lastRoles.join("\u0000") !== (desired.roles ?? []).join("\u0000");
  if (config.roles && desired.roles && desired.roles.length > 0 && rolesChanged) await auth0.roleIds(desired.roles);

  let current: CurrentUser | null = null;
  let rolesKnown: string[] | undefined;
  let fromLedger = false;
  // Our own create whose answer was lost (a 5xx after the write landed, or an earlier delivery that failed
  // before the ledger write): it is counted created, once, as on an empty tenant every row to create must be.
  let ownLostCreate = false;
  // A key the ledger has never seen is almost always a new user: create it first, one call. Auth0 refuses a
  // second user with the same email in the connection (409), and then it is looked up and judged as below.
  const createFirst = !entry && deps.ledger !== undefined && config.mode !== "update" && !how.lookupFirst && !how.after409;
  if (createFirst) {
    current = null;
  } else if (!how.after409 && entry?.userId && entry.profile) {
    current = userFromLedger(entry.userId, entry.profile);
    // Mirror mode blocked it after the profile was applied.
    if (entry.blockedAt) current.blocked = true;
    rolesKnown = entry.profile.roles;
    fromLedger = true;
  } else {
    current = await auth0.findByEmail(desired.email);
    if (how.after409 && !current) {
      throw new Auth0Error("create user: Auth0 answered 409 but no user with that email exists in the connection", { kind: "conflict", retryable: true });
    }
    const keyName = config.identity.appMetadataKey;
    const owner = current?.app_metadata?.[keyName];
    if (current && owner !== undefined && owner !== null && owner !== desired.key) {
      return reject({ code: "identity_conflict", field: "email", reason: "the Auth0 user with this email is synced under another identity key" });
    }
    ownLostCreate = current !== null && isOwnLostCreate(config, desired.key, owner, entry, how);
  }
  const previouslyOwned = entry?.profile ? { user_metadata: keysOf(entry.profile.user_metadata), app_metadata: keysOf(entry.profile.app_metadata) } : undefined;
  let planned = plan({ desired, current, mode: config.mode, previouslyOwned });
  if (ownLostCreate) {
    // Our own lost create is finished as an upsert whatever the mode: the row asked for this user to exist.
    // Without a sync key to prove it, only a user equal to what the create sent is taken for ours.
    const asOwn = plan({ desired, current, mode: "upsert", previouslyOwned });
    if (config.identity.keyColumn !== undefined || asOwn.kind === "none") planned = asOwn;
    else ownLostCreate = false;
  }
  let outcome: "created" | "updated" | "unchanged";
  let userId: string;
  let created = false;
  switch (planned.kind) {
    case "reject":
      return reject(planned.rejection);
    case "none":
      outcome = "unchanged";
      userId = planned.userId;
      break;
    case "update":
      try {
        await auth0.patch(planned.userId, planned.patch);
      } catch (err) {
        if (fromLedger && err instanceof Auth0Error && err.kind === "not_found") {
          // Deleted in Auth0 behind the sync's back: forget the ledger's id and start from what Auth0 holds.
          return syncUser(deps, runId, op, undefined, { after409: false, lookupFirst: true });
        }
        throw err;
      }
      outcome = "updated";
      userId = planned.userId;
      break;
    case "create": {
      let user: CurrentUser;
      try {
        user = await auth0.create(planned.body);
      } catch (err) {
        // The user exists after all (a race, or our own create whose answer was lost): look it up and judge it.
        if (err instanceof Auth0Error && err.kind === "conflict" && !how.after409) {
          return syncUser(deps, runId, op, entry, { after409: true, lookupFirst: true, ownCreateMayHaveLanded: err.earlierAttemptUnanswered });
        }
        throw err;
      }
      outcome = "created";
      userId = user.user_id;
      created = true;
      const invite = config.create.inviteTicket;
      if (invite.enabled) {
        await auth0.passwordChangeTicket(userId, { resultUrl: invite.resultUrl, ttlSec: invite.ttlSec, markEmailAsVerified: invite.markEmailAsVerified });
      }
      break;
    }
  }
  if (ownLostCreate) outcome = "created";
  if (config.roles && desired.roles) {
    const have = created ? [] : (rolesKnown ?? (await auth0.userRoles(userId)));
    const change = diffRoles(desired.roles, have, config.roles.removeUnlisted);
    if (change.add.length > 0 || change.remove.length > 0) {
      await auth0.assignRoles(userId, change.add);
      await auth0.removeRoles(userId, change.remove);
      if (outcome === "unchanged") outcome = "updated";
    }
  }
  const applied: LedgerEntry = { key: desired.key, userId, fingerprint: op.fingerprint, profile: desired, managed: true, lastRunSeen: runId, lastOutcome: outcome };
  return { outcome, userId, entry: applied };
}

/**
 * Whether the user found by email is this row's own create that the ledger never recorded. Evidence: the ledger
 * has applied nothing for the key, and either the create that met the 409 had an unanswered earlier attempt, or
 * (with a key column) the user carries this row's sync key and an earlier delivery recorded a failure for it.
 * A user found after a lost or restored ledger carries the key too, but with no such evidence: not counted.
 */
function isOwnLostCreate(config: SyncConfig, key: string, owner: unknown, entry: LedgerEntry | undefined, how: Resolution): boolean {
  if (entry?.userId) return false;
  const keyed = config.identity.keyColumn !== undefined;
  if (keyed && owner !== key) return false;
  if (how.ownCreateMayHaveLanded) return true;
  return keyed && entry?.lastError !== undefined;
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

async function applyOperation(deps: ConsumerDeps, runId: string, op: UserOperation, entry: LedgerEntry | undefined): Promise<OpResult> {
  const { config } = deps;
  try {
    const res = op.kind === "sync" ? await syncUser(deps, runId, op, entry) : await mirrorUser(deps, runId, op, entry);
    if ("retry" in res) return res;
    // The ledger follows Auth0: written after the write succeeded, so a retry finds the user applied.
    if (deps.ledger) {
      const what = res.entry ? "the applied profile, after the Auth0 write" : res.entry === null ? "the deletion, after the Auth0 write" : "the rejection";
      try {
        if (res.entry) await deps.ledger.put(res.entry);
        else if (res.entry === null) await deps.ledger.delete(opKey(op));
        else if (res.outcome === "rejected") await deps.ledger.recordOutcome(opKey(op), "rejected", res.rejection?.reason, runId);
      } catch (err) {
        return { retry: ledgerWriteFailed(deps, runId, opKey(op), what, err) };
      }
    }
    return res;
  } catch (err) {
    if (err instanceof Auth0Error && !err.retryable) {
      const rejection: Rejection = {
        code: err.rejectCode,
        field: err.kind === "unknown_role" ? (config.roles?.column ?? "roles") : "auth0",
        reason: err.auth0Message ?? err.message,
        row: op.kind === "sync" ? op.row : undefined,
        keyLabel: op.keyLabel,
      };
      await deps.ledger?.recordOutcome(opKey(op), "rejected", rejection.reason, runId).catch((err: unknown) => ledgerWriteFailed(deps, runId, opKey(op), "the rejection", err));
      return { outcome: "rejected", rejection };
    }
    return { retry: err instanceof Error ? err.message : String(err) };
  }
}

/** Processes one record; throws (failing the record) when any operation must be retried. */
export async function consumeRecord(deps: ConsumerDeps, record: SQSRecord, remainingMs: () => number): Promise<RecordTally> {
  const { logger } = deps;
  const parsed = parseMessage(record.body);
  if (!parsed.ok) {
    logger.error("malformed message", { messageId: record.messageId, reason: parsed.reason });
    throw new MalformedMessageError(record.messageId, parsed.reason);
  }
  const { runId, ops } = parsed.message;
  const entries = deps.ledger ? await deps.ledger.getMany(ops.map(opKey)) : new Map<string, LedgerEntry>();
  const tally: RecordTally = { outcomes: {}, repeats: 0 };
  const retries: string[] = [];
  const safetyMs = deps.safetyMs ?? 10_000;
  const queue = [...ops];
  const where = (op: UserOperation) => (op.kind === "sync" ? `row ${op.row}` : `${op.kind} ${op.keyLabel}`);
  const worker = async () => {
    for (let op = queue.shift(); op; op = queue.shift()) {
      if (remainingMs() < safetyMs) {
        retries.push(`${where(op)}: not started, Lambda time nearly over`);
        continue;
      }
      const key = opKey(op);
      const entry = entries.get(key);
      // Settled by an earlier delivery of this run: redone or skipped, but not counted twice.
      const repeat = (entry?.lastRunSeen === runId && entry.lastOutcome !== undefined) || (op.kind !== "sync" && !entry);
      const res = await applyOperation(deps, runId, op, entry);
      const keyHash = hashKey(key);
      const row = op.kind === "sync" ? op.row : undefined;
      if ("retry" in res) {
        retries.push(`${where(op)}: ${res.retry}`);
        logger.warn("user will be retried", { runId, row, keyHash, reason: res.retry });
        await deps.ledger?.recordFailure(key, res.retry).catch((err: unknown) => ledgerWriteFailed(deps, runId, key, "the retry's reason", err));
        continue;
      }
      if (repeat) tally.repeats++;
      else tally.outcomes[res.outcome] = (tally.outcomes[res.outcome] ?? 0) + 1;
      if (res.outcome === "rejected") {
        logger.warn("user rejected", { runId, row, keyHash, code: res.rejection?.code, field: res.rejection?.field, reason: res.rejection?.reason });
      } else {
        logger.debug("user synced", { runId, row, keyHash, outcome: res.outcome });
      }
      deps.onOutcome?.({ runId, key, keyLabel: op.keyLabel, row, outcome: res.outcome, userId: res.userId, rejection: res.rejection });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.parallelism ?? 4, ops.length)) }, worker));
  // The run's live counts (what `auth0-sync run` follows), also when some users of the record must be retried.
  await deps.ledger?.addRunCounts(runId, tally.outcomes);
  if (retries.length > 0) {
    throw new RetryableRecordError(`${retries.length} of ${ops.length} users must be retried; first: ${retries[0]}`);
  }
  return tally;
}
