import { ENDPOINT_GROUPS, endpointGroupOf, GLOBAL_BUCKET, type EndpointGroup } from "../../core/rate-limits.js";
import { Pacer, type PacerStats } from "./pacer.js";

/** One instance's share of each bucket and which bucket each group spends (core/config.ts `consumerBudget`). */
export interface PacerShares {
  /**
   * Each bucket's share; `ceiling` (default: the share) is the most its adaptive pacer may take while the tenant
   * shows room: the whole bucket for Auth0's own buckets, the share for a budget the config sets.
   */
  buckets: Record<string, { rps: number; burst: number; ceiling?: number }>;
  groupBucket: Record<EndpointGroup, string>;
}

/**
 * One pacer per Auth0 bucket, and the routing of each request to its group's bucket (core/rate-limits.ts). On a
 * plan with one global bucket every group shares one pacer; on Essentials/Professional each group has its own, so
 * a slow "other" bucket (roles) never holds back user writes, and a 429 on one bucket pauses only that bucket.
 */
export class PacerSet {
  private constructor(
    readonly byBucket: ReadonlyMap<string, Pacer>,
    private readonly groupBucket: Record<EndpointGroup, string>,
  ) {}

  /** One pacer for every request (tests, and tools that need no routing). */
  static single(pacer: Pacer): PacerSet {
    return new PacerSet(new Map([[GLOBAL_BUCKET, pacer]]), Object.fromEntries(ENDPOINT_GROUPS.map((g) => [g, GLOBAL_BUCKET])) as Record<EndpointGroup, string>);
  }

  /** A pacer per bucket at this instance's share, up to its ceiling. */
  static fromShares(
    shares: PacerShares,
    make: (bucket: string, share: { rps: number; burst: number; ceiling: number }) => Pacer = (_b, s) => new Pacer({ rate: s.rps, burst: s.burst, ceiling: s.ceiling }),
  ): PacerSet {
    const byBucket = new Map(Object.entries(shares.buckets).map(([name, s]) => [name, make(name, { ...s, ceiling: s.ceiling ?? s.rps })] as const));
    for (const g of ENDPOINT_GROUPS) {
      if (!byBucket.has(shares.groupBucket[g])) throw new RangeError(`group ${g} names bucket ${shares.groupBucket[g]}, which has no share`);
    }
    return new PacerSet(byBucket, { ...shares.groupBucket });
  }

  forGroup(group: EndpointGroup): Pacer {
    return this.byBucket.get(this.groupBucket[group])!;
  }

  /** The pacer of the bucket this request spends. */
  forRequest(method: string, url: string): Pacer {
    return this.forGroup(endpointGroupOf(method, new URL(url, "http://x").pathname));
  }

  /** The bucket a group spends. */
  bucketOf(group: EndpointGroup): string {
    return this.groupBucket[group];
  }

  /** Totals over the buckets. */
  get stats(): PacerStats {
    const total: PacerStats = { acquired: 0, waitedMs: 0, pauses: 0 };
    for (const p of this.byBucket.values()) {
      total.acquired += p.stats.acquired;
      total.waitedMs += p.stats.waitedMs;
      total.pauses += p.stats.pauses;
    }
    return total;
  }
}
