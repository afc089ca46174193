/**
 * Auth0's Management API rate limits as Auth0 enforces them: the catalog of endpoint groups, which request falls in
 * which group, and each plan's buckets (Auth0's "rate limit configurations" pages for free, essentials-professional
 * and enterprise tenants). The config, the consumers' shares, the pacer's routing and the docs derive from here.
 *
 * Free and Enterprise tenants have one bucket for the whole Management API; Essentials and Professional have none,
 * but one bucket per endpoint group. A plan is therefore a bucket for every group, where groups may share a bucket.
 */

/**
 * The endpoint groups Auth0 limits separately: the users groups on some plans (every other endpoint falls in
 * `other`), and the organization members groups on every plan.
 */
export const ENDPOINT_GROUPS = ["readUsers", "writeUsers", "deleteUsers", "other", "readOrgMembers", "writeOrgMembers", "writeOrgMemberRoles"] as const;
export type EndpointGroup = (typeof ENDPOINT_GROUPS)[number];

/** The organization groups: a bucket of their own on every plan, apart from the plan's global or users buckets. */
export const ORGANIZATION_GROUPS = ["readOrgMembers", "writeOrgMembers", "writeOrgMemberRoles"] as const satisfies readonly EndpointGroup[];
type OrganizationGroup = (typeof ORGANIZATION_GROUPS)[number];
type PlanGroup = Exclude<EndpointGroup, OrganizationGroup>;
const isOrganizationGroup = (g: EndpointGroup): g is OrganizationGroup => (ORGANIZATION_GROUPS as readonly string[]).includes(g);

export interface BucketLimit {
  /** Sustained requests per second (the refill rate). */
  requestsPerSecond: number;
  /** Bucket size: the burst after a quiet spell. */
  burst: number;
}

export const AUTH0_PLANS = ["free", "essentials", "professional", "enterprise", "enterprise-nonprod"] as const;
export type Auth0Plan = (typeof AUTH0_PLANS)[number];

const perMinute = (n: number) => n / 60;

/** Essentials and Professional: no global bucket, one per group. */
const SELF_SERVICE: Record<PlanGroup, BucketLimit> = {
  readUsers: { requestsPerSecond: perMinute(500), burst: 40 },
  writeUsers: { requestsPerSecond: perMinute(200), burst: 20 },
  deleteUsers: { requestsPerSecond: perMinute(200), burst: 20 },
  other: { requestsPerSecond: perMinute(150), burst: 10 },
};

/**
 * Organization members, on every plan (Auth0's rate-limit pages: write organization members 20 burst, 200 a minute;
 * write organization member roles the same; read organization members 40 burst, 500 a minute).
 */
export const ORGANIZATION_LIMITS: Record<OrganizationGroup, BucketLimit> = {
  readOrgMembers: { requestsPerSecond: perMinute(500), burst: 40 },
  writeOrgMembers: { requestsPerSecond: perMinute(200), burst: 20 },
  writeOrgMemberRoles: { requestsPerSecond: perMinute(200), burst: 20 },
};

/** Enterprise production: one bucket for the whole Management API. */
const ENTERPRISE: BucketLimit = { requestsPerSecond: 16, burst: 50 };

/** Each plan: one bucket for the whole API (`global`), or one per group. */
export const PLAN_LIMITS: Record<Auth0Plan, { global: BucketLimit } | { groups: Record<PlanGroup, BucketLimit> }> = {
  free: { global: { requestsPerSecond: 2, burst: 2 } },
  essentials: { groups: SELF_SERVICE },
  professional: { groups: SELF_SERVICE },
  enterprise: { global: ENTERPRISE },
  "enterprise-nonprod": { global: { requestsPerSecond: 2, burst: 10 } },
};

/** The budget when the config names neither a plan nor a rate limit: Enterprise production's global bucket. */
export const DEFAULT_GLOBAL_LIMIT: BucketLimit = ENTERPRISE;

/** The bucket that a plan-wide limit is known by. */
export const GLOBAL_BUCKET = "global";

/** Resolved limits: the buckets by name, and each group's bucket (groups of a global plan share `global`). */
export interface RateLimits {
  buckets: Record<string, BucketLimit>;
  groupBucket: Record<EndpointGroup, string>;
  /**
   * Buckets that are Auth0's own, as a plan (or the default) gives them: what the tenant's headers show unused may
   * be taken. The others are budgets the config sets (`rateLimit`, `endpointGroups`): the sync's cap, never
   * exceeded even when the tenant has room (it is left to the customer's other clients).
   */
  tenantBuckets: string[];
}

export interface RateLimitSettings {
  plan?: Auth0Plan;
  /** One global budget for the whole Management API (instead of a plan). */
  rateLimit?: BucketLimit;
  /**
   * Per-group overrides of a plan with per-group buckets. (The config refuses them on a one-bucket plan, where a
   * group has no bucket of its own; the emulator accepts them there, as a tenant with a group split off.)
   */
  endpointGroups?: Partial<Record<EndpointGroup, BucketLimit>>;
}

/** Whether the settings' plan has a bucket per endpoint group (Essentials, Professional) rather than one for all. */
export function hasGroupBuckets(s: Pick<RateLimitSettings, "plan">): boolean {
  return s.plan !== undefined && "groups" in PLAN_LIMITS[s.plan];
}

/** The buckets a config asks for: its plan's (or its global budget, or Enterprise production's), with overrides. */
export function resolveRateLimits(s: RateLimitSettings): RateLimits {
  const preset = s.plan ? PLAN_LIMITS[s.plan] : { global: s.rateLimit ?? DEFAULT_GLOBAL_LIMIT };
  const buckets: Record<string, BucketLimit> = {};
  const groupBucket = {} as Record<EndpointGroup, string>;
  const tenantBuckets = new Set<string>();
  const presetIsTenants = s.plan !== undefined || s.rateLimit === undefined;
  for (const group of ENDPOINT_GROUPS) {
    const override = s.endpointGroups?.[group];
    if (override) {
      buckets[group] = { ...override };
      groupBucket[group] = group;
    } else if (isOrganizationGroup(group)) {
      // Auth0's own bucket whatever the plan or the global budget (a global budget covers the plan's buckets).
      buckets[group] = { ...ORGANIZATION_LIMITS[group] };
      groupBucket[group] = group;
      tenantBuckets.add(group);
    } else if ("global" in preset) {
      buckets[GLOBAL_BUCKET] = { ...preset.global };
      groupBucket[group] = GLOBAL_BUCKET;
      if (presetIsTenants) tenantBuckets.add(GLOBAL_BUCKET);
    } else {
      buckets[group] = { ...preset.groups[group] };
      groupBucket[group] = group;
      tenantBuckets.add(group);
    }
  }
  return { buckets, groupBucket, tenantBuckets: [...tenantBuckets] };
}

/**
 * The group a Management API request falls in, from its method and path (`/api/v2/...`, any query ignored). Only
 * the users resource itself is limited by the users groups; its sub-resources (a user's roles, ...) are "other".
 */
export function endpointGroupOf(method: string, path: string): EndpointGroup {
  const p = path.replace(/[?#].*$/, "").replace(/^.*?\/api\/v2/, "").replace(/\/+$/, "");
  const m = method.toUpperCase();
  // (`/organizations/name/{name}` is the lookup by name, of an organization that may well be called "members".)
  const orgMember = p.startsWith("/organizations/name/") ? null : /^\/organizations\/[^/]+\/members(\/[^/]+\/roles)?$/.exec(p);
  if (orgMember) {
    if (m === "GET") return "readOrgMembers";
    return orgMember[1] ? "writeOrgMemberRoles" : "writeOrgMembers";
  }
  const usersCollection = p === "/users";
  const oneUser = /^\/users\/[^/]+$/.test(p);
  if (m === "GET" && (usersCollection || oneUser || p === "/users-by-email")) return "readUsers";
  if ((m === "POST" && usersCollection) || (m === "PATCH" && oneUser)) return "writeUsers";
  if (m === "DELETE" && oneUser) return "deleteUsers";
  return "other";
}

/**
 * Management API calls a new user costs at most in each group: lookup, create, role assignment (or ticket); with
 * organizations, a tenth of a membership call (10 members a call) and a member-roles call per organization.
 */
export const CALLS_PER_NEW_USER: Record<EndpointGroup, number> = { readUsers: 1, writeUsers: 1, deleteUsers: 0, other: 1, readOrgMembers: 0, writeOrgMembers: 0.1, writeOrgMemberRoles: 1 };

/** One line for dashboards and the plan: "plan professional: readUsers 8.3/s (burst 40), ...". */
export function describeRateLimits(s: RateLimitSettings): string {
  const { buckets, groupBucket } = resolveRateLimits(s);
  const parts = Object.entries(buckets).map(([name, b]) => {
    const groups = ENDPOINT_GROUPS.filter((g) => groupBucket[g] === name);
    const label = name === GLOBAL_BUCKET ? "all endpoints" : groups.join("+");
    return `${label} ${fmtRate(b.requestsPerSecond)}/s (burst ${b.burst})`;
  });
  const source = s.plan ? `plan ${s.plan}` : s.rateLimit ? "global budget" : "default (enterprise)";
  return `${source}: ${parts.join(", ")}`;
}

function fmtRate(r: number): string {
  return Number.isInteger(r) ? String(r) : r.toFixed(2);
}
