/**
 * The consumer's work for one SQS record: each user operation planned by the core and applied through the
 * Auth0 adapter. A permanent failure rejects that user with its reason; a retryable one fails the record so SQS
 * delivers it again (users already applied are then unchanged and cost no write).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { SQSRecord } from "aws-lambda";
import type { SyncConfig } from "../core/config.js";
import type { Outcome, OutcomeSink } from "../core/outcomes.js";
import { diffRoles, plan } from "../core/plan.js";
import { hashKey } from "../core/profile.js";
import type { CurrentUser, Rejection } from "../core/types.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import type { Auth0Adapter } from "../adapters/auth0/client.js";
import { parseMessage, type SyncOperation } from "../adapters/sqs/message.js";

export interface ConsumerDeps {
  config: SyncConfig;
  auth0: Auth0Adapter;
  logger: Logger;
  onOutcome?: OutcomeSink;
  /** Stop starting Auth0 writes when less than this much Lambda time is left. */
  safetyMs?: number;
  /** User operations of one message worked on at once (the pacer sets the pace). */
  parallelism?: number;
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

export type OpResult = { outcome: Exclude<Outcome, "deadLettered">; userId?: string; rejection?: Rejection } | { retry: string };

export interface RecordTally {
  outcomes: Partial<Record<Outcome, number>>;
}

async function applyOperation(deps: ConsumerDeps, op: SyncOperation): Promise<OpResult> {
  const { config, auth0 } = deps;
  const { desired } = op;
  const reject = (r: Omit<Rejection, "row" | "keyLabel">): OpResult => ({ outcome: "rejected", rejection: { ...r, row: op.row, keyLabel: op.keyLabel } });
  try {
    // Unknown role names reject the row before anything is written (names resolve from a per-process cache).
    if (config.roles && desired.roles && desired.roles.length > 0) await auth0.roleIds(desired.roles);
    const current: CurrentUser | null = await auth0.findByEmail(desired.email);
    const keyName = config.identity.appMetadataKey;
    if (current && config.identity.keyColumn) {
      const owner = current.app_metadata?.[keyName];
      if (owner !== undefined && owner !== null && owner !== desired.key) {
        return reject({ code: "identity_conflict", field: "email", reason: "the Auth0 user with this email is synced under another identity key" });
      }
    }
    const planned = plan({ desired, current, mode: config.mode });
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
        await auth0.patch(planned.userId, planned.patch);
        outcome = "updated";
        userId = planned.userId;
        break;
      case "create": {
        const res = await auth0.createOrResolve(desired, planned.body);
        outcome = res.outcome;
        userId = res.user.user_id;
        created = res.outcome === "created";
        const invite = config.create.inviteTicket;
        if (created && invite.enabled) {
          await auth0.passwordChangeTicket(userId, { resultUrl: invite.resultUrl, ttlSec: invite.ttlSec, markEmailAsVerified: invite.markEmailAsVerified });
        }
        break;
      }
    }
    if (config.roles && desired.roles) {
      const have = created ? [] : await auth0.userRoles(userId);
      const change = diffRoles(desired.roles, have, config.roles.removeUnlisted);
      if (change.add.length > 0 || change.remove.length > 0) {
        await auth0.assignRoles(userId, change.add);
        await auth0.removeRoles(userId, change.remove);
        if (outcome === "unchanged") outcome = "updated";
      }
    }
    return { outcome, userId };
  } catch (err) {
    if (err instanceof Auth0Error && !err.retryable) {
      return reject({ code: err.rejectCode, field: err.kind === "unknown_role" ? (config.roles?.column ?? "roles") : "auth0", reason: err.auth0Message ?? err.message });
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
  const tally: RecordTally = { outcomes: {} };
  const retries: string[] = [];
  const safetyMs = deps.safetyMs ?? 10_000;
  const queue = [...ops];
  const worker = async () => {
    for (let op = queue.shift(); op; op = queue.shift()) {
      if (remainingMs() < safetyMs) {
        retries.push(`row ${op.row}: not started, Lambda time nearly over`);
        continue;
      }
      const res = await applyOperation(deps, op);
      const keyHash = hashKey(op.desired.key);
      if ("retry" in res) {
        retries.push(`row ${op.row}: ${res.retry}`);
        logger.warn("user will be retried", { runId, row: op.row, keyHash, reason: res.retry });
        continue;
      }
      tally.outcomes[res.outcome] = (tally.outcomes[res.outcome] ?? 0) + 1;
      if (res.outcome === "rejected") {
        logger.warn("user rejected", { runId, row: op.row, keyHash, code: res.rejection?.code, field: res.rejection?.field, reason: res.rejection?.reason });
      } else {
        logger.debug("user synced", { runId, row: op.row, keyHash, outcome: res.outcome });
      }
      deps.onOutcome?.({ runId, key: op.desired.key, keyLabel: op.keyLabel, row: op.row, outcome: res.outcome, userId: res.userId, rejection: res.rejection });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.parallelism ?? 4, ops.length)) }, worker));
  if (retries.length > 0) {
    throw new RetryableRecordError(`${retries.length} of ${ops.length} users must be retried; first: ${retries[0]}`);
  }
  return tally;
}
