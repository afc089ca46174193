/**
 * The user flow: what happens to one user operation, planned by the core and executed through a port. A sync row:
 * start from the ledger (core/decide.ts startUser), check role names and organizations before any write, read the
 * user where the ledger does not know it, decide the write (decideUser), make it, then the roles and memberships
 * (diffed by the core, grouped with the invocation's other users when the consumer gives groups). A mirror
 * operation: block or delete a managed user. The consumer executes it against the Auth0 adapter; `auth0-sync plan`
 * against a port that records the writes instead (cli/plan-port.ts), so plan and run cannot disagree.
 *
 * The flow returns what the operation came to (core/operations.ts OpResult: an outcome with the ledger entry to
 * write, or a retry); writing the ledger is the record flow's (record-flow.ts). A permanent failure is a rejection
 * that names its field (core/rejections.ts); any other failure is a retry.
 */
import type { SyncConfig } from "../core/config.js";
import { hasGroupedWrites } from "../core/created-writes.js";
import { decideUser, knownOrganizations, startUser, type Basis, type Start, type UserDecision } from "../core/decide.js";
import { diffRoles, organizationsChange, type OrganizationChange, type RoleChange } from "../core/membership-diff.js";
import type { MirrorOperation, OpResult, SyncOperation, UserOperation } from "../core/operations.js";
import type { LedgerEntry } from "../core/records.js";
import { rejectionFor } from "../core/rejections.js";
import { SyncError } from "../core/errors.js";
import type { CurrentUser, Rejection } from "../core/types.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import { OrganizationWriteError } from "../adapters/auth0/organizations.js";
import { applyMemberRoles, applyMembershipsAlone, membershipChangeFor, resolveOrganizations } from "./memberships.js";
import type { UserPort } from "./user-port.js";
import type { WriteSlot } from "./write-groups.js";

/** Auth0's answers contradict each other (a 409, then no user with that email): the user is tried again later. */
export class ContradictoryAnswerError extends SyncError {
  override readonly name = "ContradictoryAnswerError";
  readonly retryable = true;
}

/** What the plan watches of a user's flow (the run passes none): the decision, and the roles and memberships diffs. */
export interface UserFlowObserver {
  decided?(e: { op: SyncOperation; start: Start; basis: Basis; current: CurrentUser | null; decision: UserDecision }): void;
  /** `have` is undefined when the roles were not known and not read (never: they are read when unknown). */
  roles?(e: { op: SyncOperation; have: string[]; change: RoleChange }): void;
  /** `known` is undefined when the memberships were read from Auth0; `applied` is what the change was made against. */
  memberships?(e: { op: SyncOperation; known: Record<string, string[]> | undefined; applied: Record<string, string[]>; change: OrganizationChange }): void;
}

export interface UserFlowDeps {
  config: SyncConfig;
  auth0: UserPort;
  /** Whether there is a ledger at all (without one every user is looked up by email). */
  hasLedger: boolean;
  observer?: UserFlowObserver;
  /**
   * A user this flow creates, with roles or memberships to write, is handed on as `deferred` (its id): the writes
   * queue groups those across invocations (core/created-writes.ts). The consumer sets it when that queue exists.
   */
  deferCreated?: boolean;
  /**
   * A passing failure is thrown instead of becoming a retry (the plan: a read that failed means no plan can be
   * made); a permanent one is still the user's rejection.
   */
  strict?: boolean;
}

/**
 * A user created before this flow ran, with this id: by an import job (import-run.ts), or by a consumer whose
 * roles and memberships it deferred (created-writes.ts), which sent its invitation then (`invited`).
 */
export interface CreatedElsewhere {
  userId: string;
  invited?: boolean;
}

/** What one attempt did that must outlive it: whether it sent a create (core/decide.ts, own lost creates). */
interface Attempt {
  createSent: boolean;
  /** Where the roles it gains and the organizations it joins or leaves are grouped with other users' (absent: calls of its own). */
  groups?: WriteSlot;
}

/** One operation through the flow: its outcome (with the ledger entry to write), or a retry. Never throws. */
export async function runUserFlow(deps: UserFlowDeps, runId: string, op: UserOperation, entry: LedgerEntry | undefined, groups?: WriteSlot, created?: CreatedElsewhere): Promise<OpResult> {
  const attempt: Attempt = { createSent: false, groups };
  try {
    const res = op.kind === "sync" ? await syncUser(deps, runId, op, entry, attempt, { lookup: false, imported: created?.userId, invited: created?.invited }) : await mirrorUser(deps.auth0, runId, op, entry);
    return attempt.createSent && "outcome" in res ? { ...res, createSent: true } : res;
  } catch (err) {
    if (err instanceof Auth0Error && !err.retryable) {
      const subject = err.kind === "unknown_role" ? "role" : err.kind === "unknown_organization" || err instanceof OrganizationWriteError ? "organization" : "user";
      const rejection = rejectionFor({ code: err.rejectCode, subject, field: err.field, reason: err.auth0Message ?? err.message }, { row: op.kind === "sync" ? op.row : undefined, keyLabel: op.keyLabel }, deps.config);
      return { outcome: "rejected", rejection };
    }
    if (deps.strict) throw err;
    return { retry: err instanceof Error ? err.message : String(err), createAttempted: attempt.createSent };
  }
}

/**
 * The core's decision for one row, executed: the calls it needs, in order. `lookup` looks the user up whatever the
 * ledger says: after our create met a 409, or after a PATCH met a user deleted in Auth0.
 */
async function syncUser(
  deps: UserFlowDeps,
  runId: string,
  op: SyncOperation,
  entry: LedgerEntry | undefined,
  attempt: Attempt,
  how: { lookup: boolean; after409?: boolean; ownCreateMayHaveLanded?: boolean; imported?: string; invited?: boolean } = { lookup: false },
): Promise<OpResult> {
  const { config, auth0 } = deps;
  const reject = (r: Omit<Rejection, "row" | "keyLabel">): OpResult => ({ outcome: "rejected", rejection: { ...r, row: op.row, keyLabel: op.keyLabel } });
  const { desired, start, rolesToCheck } = startUser({ desired: op.desired, fingerprint: op.fingerprint, entry, config, hasLedger: deps.hasLedger, lookup: how.lookup, observed: op.observed, imported: how.imported });
  if (start.kind === "unchanged") return { outcome: "unchanged", userId: start.userId };
  // Unknown role names and organizations reject the row before anything is written (per-process caches). With the
  // memberships known, only the organizations the change names are looked up: an unchanged membership costs none.
  if (rolesToCheck.length > 0) await auth0.roleIds(rolesToCheck);
  const orgIds = config.organizations && desired.organizations ? await resolveOrganizations(auth0, config.organizations, desired.organizations, knownOrganizations(start)) : undefined;
  const basis: Basis = start.kind === "ledger" ? "ledger" : start.kind === "create-first" ? "create-first" : "auth0";
  const current = start.kind === "ledger" || start.kind === "observed" ? start.current : start.kind === "lookup" ? await auth0.findByEmail(desired.email) : null;
  const decision = decideUser({ desired, entry, config, basis, current, after409: how.after409, ownCreateMayHaveLanded: how.ownCreateMayHaveLanded, repair: start.kind === "observed" });
  deps.observer?.decided?.({ op, start, basis, current, decision });

  let userId: string;
  // An import job of this run created the user from this profile: it counts as created, and is invited as one.
  let created = how.imported !== undefined && start.kind === "ledger";
  switch (decision.write) {
    case "reject":
      return reject(decision.rejection);
    case "retry":
      throw new ContradictoryAnswerError(decision.reason);
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
      break;
    }
  }
  // The invitation right after the create (an import's users: once their job has created them).
  const invite = config.create.inviteTicket;
  if (created && invite.enabled && !how.invited) {
    await auth0.passwordChangeTicket(userId, { resultUrl: invite.resultUrl, ttlSec: invite.ttlSec, markEmailAsVerified: invite.markEmailAsVerified });
  }
  // Created here (or by an import job), with roles or memberships to write: those are grouped across invocations
  // (core/created-writes.ts); an importer so frees its slot, one of Auth0's two jobs, as soon as its job is done.
  if (created && deps.deferCreated && hasGroupedWrites(config, desired)) return { deferred: userId };
  let outcome: "created" | "updated" | "unchanged" = created ? "created" : decision.outcome;
  const known = start.kind === "ledger" || start.kind === "observed" ? start : undefined;
  let roles: RoleChange = { add: [], remove: [] };
  if (config.roles && desired.roles) {
    const have = created ? [] : (known?.rolesKnown ?? (await auth0.userRoles(userId)));
    roles = diffRoles(desired.roles, have, config.roles.removeUnlisted);
    deps.observer?.roles?.({ op, have, change: roles });
  }
  let memberships: Awaited<ReturnType<typeof membershipChangeFor>> | undefined;
  if (orgIds && config.organizations && desired.organizations) {
    const knownMemberships = created ? {} : known?.organizationsKnown;
    memberships = await membershipChangeFor(auth0, config.organizations, desired.organizations, knownMemberships, userId, orgIds);
    deps.observer?.memberships?.({ op, known: knownMemberships, applied: memberships.applied, change: memberships.change });
  }
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

/** Mirror mode's block or delete of a managed user absent from the run. */
async function mirrorUser(auth0: UserPort, runId: string, op: MirrorOperation, entry: LedgerEntry | undefined): Promise<OpResult> {
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
