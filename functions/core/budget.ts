/**
 * The rate budget's arithmetic: the config's Auth0 buckets (core/rate-limits.ts), how many consumer instances share
 * them (the event source's maxConcurrency) and each instance's share, and how long one invocation's users take.
 */
import { CALLS_PER_NEW_USER, ENDPOINT_GROUPS, GLOBAL_BUCKET, resolveRateLimits, type EndpointGroup, type RateLimits } from "./rate-limits.js";
import type { SyncConfig } from "./config.js";

/** Requests per second one consumer instance should have at least, for its pacing to be worth an instance. */
export const MIN_RPS_PER_CONSUMER = 8;

/** One consumer instance's share of one bucket, and the most its adaptive pacer may take when others leave room. */
export interface BucketShare {
  rps: number;
  burst: number;
  /** The whole bucket for Auth0's own buckets (what idle instances leave may be used); the share for a budget. */
  ceiling: number;
}

export interface ConsumerBudget {
  /** Consumer instances that may run at once (the event source's maxConcurrency). */
  maxConcurrency: number;
  /** Each instance's share of each bucket, by bucket name. */
  buckets: Record<string, BucketShare>;
  /** Which bucket each endpoint group's requests spend. */
  groupBucket: Record<EndpointGroup, string>;
}

/** The config's buckets (core/rate-limits.ts): its plan's, its global budget, or Enterprise production's. */
export function rateLimitsOf(cfg: Pick<SyncConfig, "auth0">): RateLimits {
  return resolveRateLimits(cfg.auth0);
}

/**
 * How many consumer instances share the Auth0 buckets (the event source's maxConcurrency), and each one's share:
 * maxConcurrency = clamp(ceil(largest bucket's requestsPerSecond / 8), 2, 1000); each instance paces every bucket
 * at its rate / maxConcurrency with burst floor(burst / maxConcurrency) (at least 2). Together they never exceed
 * a bucket's sustained rate.
 */
export function consumerBudget(cfg: Pick<SyncConfig, "auth0">): ConsumerBudget {
  return shareOf(rateLimitsOf(cfg));
}

export function shareOf(limits: RateLimits): ConsumerBudget {
  const fastest = Math.max(...Object.values(limits.buckets).map((b) => b.requestsPerSecond));
  const maxConcurrency = Math.min(1000, Math.max(2, Math.ceil(fastest / MIN_RPS_PER_CONSUMER)));
  const buckets = Object.fromEntries(
    Object.entries(limits.buckets).map(([name, b]) => {
      const rps = b.requestsPerSecond / maxConcurrency;
      return [name, { rps, burst: Math.max(2, Math.floor(b.burst / maxConcurrency)), ceiling: limits.tenantBuckets.includes(name) ? b.requestsPerSecond : rps }];
    }),
  );
  return { maxConcurrency, buckets, groupBucket: limits.groupBucket };
}

/** How long one consumer instance needs for `users` new users at its shares, and the bucket that sets it. */
export function invocationSeconds(cfg: Pick<SyncConfig, "auth0"> & { organizations?: { roles?: unknown } }, users: number): { seconds: number; bucket: string; rps: number } {
  const share = consumerBudget(cfg);
  const calls: Record<string, number> = {};
  // The organization groups only cost calls when the config manages memberships (and member roles).
  const costs = (g: EndpointGroup) =>
    g === "writeOrgMembers" ? (cfg.organizations ? CALLS_PER_NEW_USER[g] : 0) : g === "writeOrgMemberRoles" ? (cfg.organizations?.roles ? CALLS_PER_NEW_USER[g] : 0) : CALLS_PER_NEW_USER[g];
  for (const g of ENDPOINT_GROUPS) calls[share.groupBucket[g]] = (calls[share.groupBucket[g]] ?? 0) + costs(g) * users;
  let worst = { seconds: 0, bucket: GLOBAL_BUCKET, rps: Number.POSITIVE_INFINITY };
  for (const [bucket, n] of Object.entries(calls)) {
    const rps = share.buckets[bucket]!.rps;
    const seconds = Math.ceil(n / rps);
    if (seconds > worst.seconds) worst = { seconds, bucket, rps };
  }
  return worst;
}
