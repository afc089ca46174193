/**
 * One user's organization memberships and member roles, as the core's diff says (core/membership-diff.ts): the organizations
 * resolved before any write (an unknown one rejects the row, naming it), what the user holds now (the ledger's last
 * applied memberships, or Auth0's for a user the ledger knows none of), and the member roles written per user after
 * the grouped joins (write-groups.ts).
 */
import type { SyncConfig } from "../core/config.js";
import { diffOrganizations, heldOrganizations, organizationsToCheck, type OrganizationChange } from "../core/membership-diff.js";
import type { UserPort as Auth0Adapter } from "./user-port.js";
import { Auth0Error } from "../adapters/auth0/errors.js";
import { OrganizationWriteError } from "../adapters/auth0/organizations.js";

type OrganizationsConfig = NonNullable<SyncConfig["organizations"]>;

/** A user's membership change with the organizations' ids. */
export interface MembershipChange {
  change: OrganizationChange;
  /** What the change was made against: the memberships known, or those read from Auth0. */
  applied: Record<string, string[]>;
  /** Organization ids by the table's reference, for every organization the change joins, leaves or changes roles in. */
  ids: Map<string, string>;
  joinIds: string[];
  leaveIds: string[];
}

/**
 * The ids of the organizations a user's change needs, and its member role names checked against the tenant's roles,
 * as the core lists them (`organizationsToCheck`: with `known` memberships only those the change joins or changes
 * roles in; with none known, every one the row lists): an unknown organization or role is a permanent error naming
 * it and the column (the row is rejected before any write).
 */
export async function resolveOrganizations(auth0: Auth0Adapter, cfg: OrganizationsConfig, desired: Record<string, string[]>, known?: Record<string, string[]>): Promise<Map<string, string>> {
  const { refs, roleNames } = organizationsToCheck(desired, known, { removeUnlisted: cfg.removeUnlisted, roles: cfg.roles !== undefined });
  let ids: string[];
  try {
    ids = await auth0.organizations.resolve(refs, cfg.by);
  } catch (err) {
    if (err instanceof Auth0Error && err.kind === "unknown_organization") throw new Auth0Error(err.message, { kind: err.kind, retryable: false, field: cfg.column, cause: err });
    throw err;
  }
  if (roleNames.length > 0 && cfg.roles) {
    try {
      await auth0.roleIds(roleNames);
    } catch (err) {
      if (err instanceof Auth0Error && err.kind === "unknown_role") throw new Auth0Error(err.message, { kind: err.kind, retryable: false, field: cfg.roles.column, cause: err });
      throw err;
    }
  }
  return new Map(refs.map((r, i) => [r, ids[i] as string]));
}

/**
 * What the user holds now in Auth0 of the organizations the row lists (member roles where managed; the watch reads
 * it too, for a user another client changed the memberships of): the sync never
 * removes a membership it did not apply, so the others are not even looked at.
 */
export async function heldInAuth0(auth0: Pick<Auth0Adapter, "organizations">, cfg: OrganizationsConfig, userId: string, desired: Record<string, string[]>): Promise<Record<string, string[]>> {
  const held: Record<string, string[]> = {};
  for (const o of heldOrganizations(await auth0.organizations.userOrganizations(userId), desired, cfg.by)) {
    held[o.ref] = cfg.roles ? await auth0.organizations.memberRoles(o.id, userId) : [];
  }
  return held;
}

/**
 * The change for one user: against `known` (the ledger's last applied memberships, {} for a user just created, or
 * what a reconcile observed), or, when nothing is known, against what Auth0 holds of the listed organizations (then
 * nothing is left: only memberships the sync applied are ever removed). Organizations to leave that no longer exist
 * are dropped (their memberships went with them). `resolved` must hold every organization the change joins or
 * changes member roles in (resolveOrganizations with the same `known`): one missing is an internal error.
 */
export async function membershipChangeFor(
  auth0: Auth0Adapter,
  cfg: OrganizationsConfig,
  desired: Record<string, string[]>,
  known: Record<string, string[]> | undefined,
  userId: string,
  resolved: Map<string, string>,
): Promise<MembershipChange> {
  const ids = new Map(resolved);
  // Nothing known and nothing wanted: nothing to read (nothing unknown is ever removed).
  const applied = known ?? (Object.keys(desired).length === 0 ? {} : await heldInAuth0(auth0, cfg, userId, desired));
  const change = diffOrganizations(desired, applied, { removeUnlisted: cfg.removeUnlisted, roles: cfg.roles !== undefined });
  // The caller resolved these before its first write (resolveOrganizations, against the same memberships), so an
  // unknown organization rejected the row before the user was touched. Resolving one here would come after a
  // create or a patch and let an unknown organization fail a user already written: a caller's bug, never a row's.
  const needed = [...change.join, ...change.addRoles.map((c) => c.org), ...change.removeRoles.map((c) => c.org)].filter((ref) => !ids.has(ref));
  if (needed.length > 0) {
    throw new Error(`internal error: organizations ${[...new Set(needed)].sort().join(", ")} are not resolved; they should have been resolved before the first write (resolveOrganizations, with the same memberships)`);
  }
  const leaveIds: string[] = [];
  for (const ref of change.leave) {
    let id = ids.get(ref);
    if (id === undefined) {
      try {
        [id] = await auth0.organizations.resolve([ref], cfg.by);
      } catch (err) {
        if (err instanceof Auth0Error && err.kind === "unknown_organization") continue;
        throw err;
      }
      ids.set(ref, id as string);
    }
    leaveIds.push(id as string);
  }
  return { change, applied, ids, joinIds: change.join.map((ref) => ids.get(ref) as string), leaveIds };
}

/** Member roles, per organization the user is in (after the joins): additions first, then removals. */
export async function applyMemberRoles(auth0: Auth0Adapter, cfg: OrganizationsConfig, plan: MembershipChange, userId: string): Promise<void> {
  const write = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      if (err instanceof Auth0Error && err.errorCode === "inexistent_role") {
        // A role deleted since its name was resolved: names are looked up again on the retry (then an unknown
        // role rejects the row before any write).
        auth0.forgetRoles();
        throw new OrganizationWriteError(new Auth0Error(`${err.message} (deleted since its name was looked up; the user is retried)`, { kind: "server", retryable: true, statusCode: err.statusCode, errorCode: err.errorCode, cause: err }));
      }
      throw err instanceof Auth0Error ? new OrganizationWriteError(err, cfg.roles?.column) : err;
    }
  };
  for (const { org, roles } of plan.change.addRoles) {
    const roleIds = await auth0.roleIds(roles);
    const orgId = plan.ids.get(org) as string;
    await write(async () => {
      try {
        await auth0.organizations.assignMemberRoles(orgId, userId, roleIds);
      } catch (err) {
        // Not a member (removed outside the sync although the ledger has the membership): join again, then assign.
        if (!(err instanceof Auth0Error && err.statusCode === 404 && err.errorCode !== "inexistent_role" && err.errorCode !== "inexistent_organization")) throw err;
        await auth0.organizations.addMembers(orgId, [userId]);
        await auth0.organizations.assignMemberRoles(orgId, userId, roleIds);
      }
    });
  }
  for (const { org, roles } of plan.change.removeRoles) {
    const roleIds = await auth0.roleIds(roles);
    await write(() => auth0.organizations.removeMemberRoles(plan.ids.get(org) as string, userId, roleIds));
  }
}

/** Joins and leaves one user at a time (an invocation without grouped writes). */
export async function applyMembershipsAlone(auth0: Auth0Adapter, plan: MembershipChange, userId: string): Promise<void> {
  try {
    for (const id of plan.joinIds) await auth0.organizations.addMembers(id, [userId]);
    for (const id of plan.leaveIds) await auth0.organizations.removeMembers(id, [userId]);
  } catch (err) {
    throw err instanceof Auth0Error ? new OrganizationWriteError(err) : err;
  }
}
