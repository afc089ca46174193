/**
 * Rate limits of the Auth0 emulator, as Auth0 documents them (the rate limit policy,
 * https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy, and its "rate limit
 * configurations" pages, e.g. .../rate-limit-configurations/essentials-professional-b2b): continuous-refill
 * token buckets, either one for the whole Management API or one per endpoint group, and a competing client that
 * draws on the same buckets as every other Management API client of the tenant does.
 *
 * The bucket sizes and rates come from the product's catalog (`resolveRateLimits`), but the emulator classifies
 * requests itself, from its own route templates: the cross-check between that and the product's `endpointGroupOf`
 * is what catches a route either side gets wrong.
 */
import { type EndpointGroup, GLOBAL_BUCKET, type RateLimitSettings, resolveRateLimits } from "../functions/core/rate-limits.js";

/** Continuous-refill token bucket, as Auth0 describes its limits. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly size: number,
    readonly rate: number,
  ) {
    this.tokens = size;
    this.last = Date.now();
  }
  private refill(now: number): void {
    this.tokens = Math.min(this.size, this.tokens + (Math.max(0, now - this.last) / 1000) * this.rate);
    this.last = Math.max(this.last, now);
  }
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
  headers(now: number): { limit: number; remaining: number; reset: number } {
    this.refill(now);
    const untilNext = this.tokens >= this.size ? 0 : ((1 - (this.tokens % 1)) / this.rate) * 1000;
    return { limit: this.size, remaining: Math.floor(this.tokens), reset: Math.ceil((now + untilNext) / 1000) };
  }
}

/**
 * Every Management API route the emulator serves, as "METHOD template" (`:id` is one path segment). The request log
 * names routes by these templates; the server refuses to answer a route missing from the list, so it stays whole.
 */
export const EMULATOR_ROUTES = [
  "POST /api/v2/users",
  "GET /api/v2/users-by-email",
  "GET /api/v2/users/:id",
  "PATCH /api/v2/users/:id",
  "DELETE /api/v2/users/:id",
  "GET /api/v2/users/:id/roles",
  "POST /api/v2/users/:id/roles",
  "DELETE /api/v2/users/:id/roles",
  "GET /api/v2/roles",
  "GET /api/v2/roles/:id/users",
  "POST /api/v2/roles/:id/users",
  "GET /api/v2/connections",
  "POST /api/v2/jobs/users-exports",
  "POST /api/v2/jobs/users-imports",
  "GET /api/v2/jobs/:id",
  "GET /api/v2/jobs/:id/errors",
  "POST /api/v2/tickets/password-change",
  // Organizations (auth0-emulator-orgs.ts). By name before by id: `/organizations/name/members` is the organization
  // named "members", as Auth0 routes it, and templates with a parameter are tried in this order.
  "GET /api/v2/organizations/name/:id",
  "GET /api/v2/organizations/:id",
  "GET /api/v2/organizations/:id/members",
  "POST /api/v2/organizations/:id/members",
  "DELETE /api/v2/organizations/:id/members",
  "GET /api/v2/organizations/:id/members/:id/roles",
  "POST /api/v2/organizations/:id/members/:id/roles",
  "DELETE /api/v2/organizations/:id/members/:id/roles",
  "GET /api/v2/users/:id/organizations",
  // The tenant log (auth0-emulator-logs.ts): Auth0 names no group for /logs, so "all other endpoints".
  "GET /api/v2/logs",
] as const;

const DECLARED = new Set<string>(EMULATOR_ROUTES);

/** Whether the emulator declares `METHOD route` (route as `routeOf` gives it). */
export const isDeclaredRoute = (method: string, route: string): boolean => DECLARED.has(`${method.toUpperCase()} ${route}`);

// Path templates, literal ones first so that /jobs/users-exports (and -imports) is not taken for /jobs/:id.
const TEMPLATES = [...new Set(EMULATOR_ROUTES.map((r) => r.slice(r.indexOf(" ") + 1)))]
  .sort((a, b) => Number(a.includes(":")) - Number(b.includes(":")))
  .map((t) => ({ template: t, re: new RegExp(`^${t.replace(/:id/g, "[^/]+")}$`) }));

/** The route template a request path is logged and classified by; a path no template matches is its own route. */
export function routeOf(pathname: string): string {
  return TEMPLATES.find((t) => t.re.test(pathname))?.template ?? pathname;
}

/**
 * The endpoint group of a route, in the words of Auth0's rate-limit configuration pages: read users (GET /users,
 * /users/{id}, /users-by-email), write users (POST /users, PATCH /users/{id}), delete users (DELETE /users/{id});
 * read organization members (GET /organizations/{id}/members and a member's roles), write organization members
 * (POST, DELETE /organizations/{id}/members), write organization member roles (POST, DELETE
 * /organizations/{id}/members/{user_id}/roles); everything else (a user's roles, an organization itself, a user's
 * organizations, jobs: creating an export or import, reading one and its errors, ...) shares "all other endpoints".
 */
const ROUTE_GROUPS: Record<string, EndpointGroup> = {
  "GET /api/v2/users": "readUsers",
  "GET /api/v2/users/:id": "readUsers",
  "GET /api/v2/users-by-email": "readUsers",
  "POST /api/v2/users": "writeUsers",
  "PATCH /api/v2/users/:id": "writeUsers",
  "DELETE /api/v2/users/:id": "deleteUsers",
  "GET /api/v2/organizations/:id/members": "readOrgMembers",
  "GET /api/v2/organizations/:id/members/:id/roles": "readOrgMembers",
  "POST /api/v2/organizations/:id/members": "writeOrgMembers",
  "DELETE /api/v2/organizations/:id/members": "writeOrgMembers",
  "POST /api/v2/organizations/:id/members/:id/roles": "writeOrgMemberRoles",
  "DELETE /api/v2/organizations/:id/members/:id/roles": "writeOrgMemberRoles",
};

export const groupOfRoute = (method: string, route: string): EndpointGroup => ROUTE_GROUPS[`${method.toUpperCase()} ${route}`] ?? "other";

/** What the emulator's constructor knows about limits: a plan (or overrides), else one global bucket. */
export interface LimitOptions {
  limits?: RateLimitSettings;
  rate?: number;
  burst?: number;
}

/** The tenant's Management API buckets, and which one each endpoint group is charged to. */
export class TenantBuckets {
  private buckets = new Map<string, TokenBucket>();
  private groupBucket = {} as Record<EndpointGroup, string>;

  constructor(o: LimitOptions = {}) {
    if (o.limits) this.setLimits(o.limits);
    else this.setGlobal(o.rate ?? 16, o.burst ?? 50);
  }

  /** One bucket for the whole Management API (Auth0's free and enterprise plans). */
  setGlobal(rate: number, burst: number): void {
    this.setLimits({ rateLimit: { requestsPerSecond: rate, burst } });
  }

  /** A plan's buckets (or a global budget, with per-group overrides), all full. */
  setLimits(settings: RateLimitSettings): void {
    const { buckets, groupBucket } = resolveRateLimits(settings);
    this.buckets = new Map(Object.entries(buckets).map(([name, b]) => [name, new TokenBucket(b.burst, b.requestsPerSecond)]));
    this.groupBucket = groupBucket;
  }

  /** The bucket a request to `route` is charged to, and its name. */
  chargeOf(method: string, route: string): { name: string; bucket: TokenBucket } {
    const name = this.groupBucket[groupOfRoute(method, route)] ?? GLOBAL_BUCKET;
    const bucket = this.buckets.get(name);
    if (!bucket) throw new Error(`no bucket named ${name}`);
    return { name, bucket };
  }

  get(name: string): TokenBucket | undefined {
    return this.buckets.get(name);
  }

  names(): string[] {
    return [...this.buckets.keys()];
  }

  levels(now: number): Record<string, { limit: number; remaining: number }> {
    const out: Record<string, { limit: number; remaining: number }> = {};
    for (const [name, b] of this.buckets) {
      const { limit, remaining } = b.headers(now);
      out[name] = { limit, remaining };
    }
    return out;
  }
}

/** Another Management API client of the same tenant, drawing on its buckets (for benchmarks). */
export interface CompetitorSettings {
  /** Requests it tries per second, against each bucket it competes for. */
  requestsPerSecond: number;
  /** The bucket it competes for (e.g. "global", "other"); default: every bucket, each at `requestsPerSecond`. */
  bucket?: string;
  /** Delay before it starts, from the emulator's start (or from `setCompetitor` on a running emulator). */
  startAfterMs?: number;
  /** How long it runs once started; default: until stopped. */
  durationMs?: number;
}

const COMPETITOR_TICK_MS = 10;

/**
 * The competing client: every tick it tries the whole requests accumulated at its rate; each takes a token or is
 * refused (a 429 for that client). Its attempts never reach the request log, which stays the product's.
 */
export class Competitor {
  private settings?: CompetitorSettings;
  private timer?: NodeJS.Timeout;
  private origin = 0;
  private last = 0;
  private owed: Record<string, number> = {};
  private readonly counts = { attempted: 0, admitted: 0, refused: 0 };

  constructor(private readonly buckets: () => TenantBuckets) {}

  /** Sets (or with undefined, removes) the competitor; when `running`, its clock starts now. */
  set(s: CompetitorSettings | undefined, running: boolean): void {
    if (s) validate(s, this.buckets().names());
    this.stop();
    this.settings = s ? { ...s } : undefined;
    if (running) this.start();
  }

  start(now = Date.now()): void {
    this.stop();
    if (!this.settings) return;
    this.origin = now;
    this.last = now;
    this.owed = {};
    this.timer = setInterval(() => this.tick(Date.now()), COMPETITOR_TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  stats(): { attempted: number; admitted: number; refused: number } {
    return { ...this.counts };
  }

  private tick(now: number): void {
    const s = this.settings;
    if (!s) return;
    const from = this.origin + (s.startAfterMs ?? 0);
    const until = s.durationMs === undefined ? Infinity : from + s.durationMs;
    // Only the part of this tick inside the active window counts.
    const elapsed = Math.max(0, Math.min(now, until) - Math.max(this.last, from));
    this.last = now;
    if (now >= until) this.stop();
    if (elapsed === 0) return;
    const tenant = this.buckets();
    for (const name of s.bucket === undefined ? tenant.names() : [s.bucket]) {
      const bucket = tenant.get(name);
      if (!bucket) continue; // the limits changed under it
      let owed = (this.owed[name] ?? 0) + (elapsed / 1000) * s.requestsPerSecond;
      for (; owed >= 1; owed--) {
        this.counts.attempted++;
        if (bucket.take(now)) this.counts.admitted++;
        else this.counts.refused++;
      }
      this.owed[name] = owed;
    }
  }
}

function validate(s: CompetitorSettings, buckets: string[]): void {
  const nonNegative = (v: number | undefined) => v === undefined || (Number.isFinite(v) && v >= 0);
  if (!nonNegative(s.requestsPerSecond) || !nonNegative(s.startAfterMs) || !nonNegative(s.durationMs)) {
    throw new RangeError("competitor: requestsPerSecond, startAfterMs and durationMs must be finite and not negative");
  }
  if (s.bucket !== undefined && !buckets.includes(s.bucket)) throw new RangeError(`competitor: no bucket named ${s.bucket} (buckets: ${buckets.join(", ")})`);
}
