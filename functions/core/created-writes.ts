/**
 * The roles and memberships of users a consumer has just created, grouped across invocations (docs/imports.md,
 * "Roles of new users"): a consumer invocation holds 25 users by default, so grouping inside it costs one role call
 * per 25 new users or fewer. Instead, once a user is created, what is left of it (its roles, its organizations, its
 * invitation) goes to the writes queue, whose event source waits to gather up to a grouped call's worth of users
 * (Auth0 takes 100 users a role call) before the consumer applies them together.
 */
import { rateLimitsOf } from "./budget.js";
import type { SyncConfig } from "./config.js";
import type { DesiredProfile } from "./types.js";

/** Users a grouped role call takes (Auth0's `POST /roles/{id}/users`), and so the writes queue's batch. */
export const CREATED_WRITES_BATCH = 100;
/** Lambda's longest batching window for an SQS event source. */
const MAX_WINDOW_SECONDS = 300;

/**
 * How long the writes queue's event source gathers users: twice the time the tenant's write bucket takes to create
 * a batch's worth (users are created at that pace, or slower when another client shares the bucket), at least 1 s:
 * 13 s at Enterprise's 16/s, 60 s at Professional's 200 a minute. A user's roles follow its create by at most
 * that long; a full batch goes at once.
 */
export function createdWritesWindowSeconds(config: Pick<SyncConfig, "auth0">): number {
  const limits = rateLimitsOf(config);
  const rps = limits.buckets[limits.groupBucket.writeUsers]?.requestsPerSecond ?? 1;
  return Math.min(MAX_WINDOW_SECONDS, Math.max(1, Math.ceil((2 * CREATED_WRITES_BATCH) / rps)));
}
/** The writes queue's name ends so (`auth0-sync-<name>-writes`; locally `<name>-writes`): the consumer tells its invocations by it. */
export const WRITES_QUEUE_SUFFIX = "-writes";
/** At most this many invocations on the writes queue at once (its users' calls are few, grouped ones). */
export const CREATED_WRITES_CONCURRENCY = 2;

/** Whether the config gives new users grouped writes at all (roles or organizations): the writes queue exists. */
export const defersCreatedWrites = (config: Pick<SyncConfig, "roles" | "organizations">): boolean => config.roles !== undefined || config.organizations !== undefined;

/** Whether a user just created still needs grouped writes (a role to gain, an organization to join). */
export function hasGroupedWrites(config: Pick<SyncConfig, "roles" | "organizations">, desired: DesiredProfile): boolean {
  return (config.roles !== undefined && (desired.roles?.length ?? 0) > 0) || (config.organizations !== undefined && Object.keys(desired.organizations ?? {}).length > 0);
}

/**
 * What a consumer's create applied of a profile whose roles and memberships follow from the writes queue: all but
 * those (none yet). The ledger holds it until they are applied, so a run in between plans them, and only them.
 */
export function createdSoFar(desired: DesiredProfile): DesiredProfile {
  return { ...desired, ...(desired.roles ? { roles: [] } : {}), ...(desired.organizations ? { organizations: {} } : {}) };
}
