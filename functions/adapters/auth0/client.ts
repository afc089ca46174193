/**
 * The Auth0 adapter: the official `auth0` SDK's resource clients, with every request going through one paced
 * fetch. The pacer keeps the process inside its request budget, waits out 429s until x-ratelimit-reset (they
 * never count as a retry), retries 5xx / network / timeouts a few times, and refreshes the token on a 401.
 */
import { TokenProvider, type Management } from "auth0";
import { RolesClient } from "auth0/roles";
import { TicketsClient } from "auth0/tickets";
import { UsersClient } from "auth0/users";
import { type SyncConfig } from "../../core/config.js";
import { rateLimitsOf } from "../../core/budget.js";
import { BOOLEAN_FIELDS, TEXT_FIELDS } from "../../core/fields.js";
import type { CreateBody, CurrentUser, JsonObject, UserPatch } from "../../core/types.js";
import { Auth0Error, EARLIER_ATTEMPT_UNANSWERED, callAuth0, classifyError } from "./errors.js";
import { randomPassword } from "./password.js";
import { Pacer } from "./pacer.js";
import { PacerSet } from "./pacers.js";
import { Auth0Organizations } from "./organizations.js";
import { setTimeout as sleep } from "node:timers/promises";

export interface Auth0Credentials {
  clientId: string;
  clientSecret: string;
}

export interface Auth0AdapterOptions {
  domain: string;
  /** Where requests really go (the emulator); `https://{domain}` when absent. */
  baseUrl?: string;
  credentials: Auth0Credentials;
  connection: string;
  connectionType: "database" | "passwordless" | "other";
  verifyEmail: boolean;
  /** Per-attempt timeout. */
  timeoutMs: number;
  /** Retries of 5xx, network errors and timeouts within one call. 429s are waited out and not counted. */
  maxRetries: number;
  /** Upper bound on 429 waits within one call, so a tenant that never recovers still ends in a retryable error. */
  maxRateLimitWaits?: number;
  /** The pacers of this process: one per Auth0 bucket, each request routed to its group's (or one for all). */
  pacer: Pacer | PacerSet;
  /** The underlying fetch (tests may wrap it); global fetch by default. */
  fetch?: typeof fetch;
}

export interface Auth0CallStats {
  calls: number;
  status429: number;
  retries: number;
  tokenFetches: number;
  byStatus: Record<number, number>;
}

/** Options from the sync config, the credentials, and the environment (AUTH0_BASE_URL wins over the config). */
export function auth0OptionsFromConfig(
  cfg: SyncConfig,
  credentials: Auth0Credentials,
  env: Record<string, string | undefined> = process.env,
  pacer?: Pacer | PacerSet,
): Auth0AdapterOptions {
  const a = cfg.auth0;
  return {
    domain: a.domain,
    baseUrl: env.AUTH0_BASE_URL || a.baseUrl,
    credentials,
    connection: a.connection,
    connectionType: a.connectionType,
    verifyEmail: cfg.create.verifyEmail,
    timeoutMs: a.timeoutMs,
    maxRetries: a.maxRetries,
    pacer: pacer ?? sharedPacers(cfg),
  };
}

const shared = new Map<string, PacerSet>();

/**
 * The process-wide pacers at a config's whole buckets, for an adapter made without pacers (tests, tools that run
 * alone): every such client in the process shares them. The Lambdas pace at their share instead (consumerBudget).
 */
function sharedPacers(cfg: SyncConfig): PacerSet {
  const limits = rateLimitsOf(cfg);
  const key = JSON.stringify(limits);
  let set = shared.get(key);
  if (!set) {
    set = PacerSet.fromShares({ groupBucket: limits.groupBucket, buckets: Object.fromEntries(Object.entries(limits.buckets).map(([n, b]) => [n, { rps: b.requestsPerSecond, burst: b.burst }])) });
    shared.set(key, set);
  }
  return set;
}


function setHeader(init: RequestInit, name: string, value: string): RequestInit {
  const headers = new Headers(init.headers);
  headers.set(name, value);
  return { ...init, headers };
}

/** Client-credentials token cached per process; the SDK's TokenProvider refreshes it before expiry. */
class TokenCache {
  private provider: TokenProvider;
  constructor(private readonly make: () => TokenProvider) {
    this.provider = make();
  }
  get(): Promise<string> {
    return this.provider.getAccessToken();
  }
  /** After a 401 the token was revoked or expired early: forget it. */
  invalidate(): void {
    this.provider = this.make();
  }
}

export class Auth0Adapter {
  readonly stats: Auth0CallStats = { calls: 0, status429: 0, retries: 0, tokenFetches: 0, byStatus: {} };
  readonly users: UsersClient;
  readonly roles: RolesClient;
  readonly tickets: TicketsClient;
  /** The options its SDK clients share (paced fetch, token, base URL, no SDK retries): for further resource clients. */
  readonly clientOptions: RolesClient.Options;
  private readonly tokens: TokenCache;
  private roleIdsByName?: Promise<Map<string, string>>;
  private readonly origin: string;
  private readonly pacers: PacerSet;
  private orgsClient?: Auth0Organizations;

  constructor(private readonly opts: Auth0AdapterOptions) {
    this.pacers = opts.pacer instanceof PacerSet ? opts.pacer : PacerSet.single(opts.pacer);
    this.origin = (opts.baseUrl ?? `https://${opts.domain}`).replace(/\/+$/, "");
    const rawFetch = opts.fetch ?? fetch;
    const rewrite = (input: string | URL | Request): string => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const prod = `https://${opts.domain}`;
      return url.startsWith(prod) ? this.origin + url.slice(prod.length) : url;
    };
    // /oauth/token has its own rate limit: many instances starting (or all tokens expiring) at once meet 429s
    // there. They are waited out here, with backoff and jitter, instead of failing users' calls.
    const tokenFetch: typeof fetch = async (input, init) => {
      for (let attempt = 1; ; attempt++) {
        this.stats.tokenFetches++;
        const res = await rawFetch(rewrite(input), init);
        if ((res.status !== 429 && res.status < 500) || attempt > TOKEN_FETCH_RETRIES) return res;
        await res.arrayBuffer().catch(() => undefined);
        const reset = Number(res.headers.get("x-ratelimit-reset"));
        const untilReset = Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - Date.now()) : 0;
        await sleep(Math.min(10_000, untilReset + backoff(attempt)));
      }
    };
    this.tokens = new TokenCache(
      () =>
        new TokenProvider({
          domain: opts.domain,
          clientId: opts.credentials.clientId,
          clientSecret: opts.credentials.clientSecret,
          audience: `https://${opts.domain}/api/v2/`,
          fetch: tokenFetch,
          telemetry: false,
        }),
    );
    const pacedFetch: typeof fetch = (input, init) => this.pacedFetch(rawFetch, rewrite(input), init ?? {});
    const clientOptions: RolesClient.Options = {
      baseUrl: `${this.origin}/api/v2`,
      token: () => this.token(),
      fetch: pacedFetch,
      // Retries, timeouts and 429 handling live in pacedFetch, where the pacer can see them.
      maxRetries: 0,
      timeoutInSeconds: 15 * 60,
    };
    this.clientOptions = clientOptions;
    this.users = new UsersClient(clientOptions);
    this.roles = new RolesClient(clientOptions);
    this.tickets = new TicketsClient(clientOptions);
  }

  /**
   * The access token. Whatever the token endpoint answers (a 400 for a malformed request or a wrong audience, a
   * 401 for a wrong secret, a 5xx), no row is at fault: the failure is retryable (the record is delivered again,
   * then dead-lettered with an alarm) and its reason names the token endpoint, never a row's field.
   */
  private async token(): Promise<string> {
    try {
      return await this.tokens.get();
    } catch (err) {
      const cause = classifyError(err, "get a Management API token");
      const status = cause.statusCode === undefined ? "" : ` (HTTP ${cause.statusCode})`;
      throw new Auth0Error(
        `getting a Management API token failed${status}: ${cause.auth0Message ?? cause.message}; no row is at fault (check auth0.domain, the client id and secret, and that the application is authorized for the Management API)`,
        { kind: "auth", retryable: true, statusCode: cause.statusCode, errorCode: cause.errorCode, auth0Message: cause.auth0Message, cause: err },
      );
    }
  }

  /** This adapter's pacers, one per Auth0 bucket. */
  get pacer(): PacerSet {
    return this.pacers;
  }

  private async pacedFetch(rawFetch: typeof fetch, url: string, init: RequestInit): Promise<Response> {
    const maxRateWaits = this.opts.maxRateLimitWaits ?? 30;
    let failures = 0;
    let rateWaits = 0;
    let reauthenticated = false;
    // A write whose attempt got no clear answer (5xx, 408, timeout, network) may have landed: a 409 on its retry
    // is then marked, so the consumer can tell its own create from someone else's user.
    const write = (init.method ?? "GET").toUpperCase() !== "GET";
    let uncertain = false;
    let req = init;
    // Each request spends its endpoint group's bucket (core/rate-limits.ts), and learns from that bucket's headers.
    const pacer = this.pacers.forRequest(init.method ?? "GET", url);
    // An import job's creation is never sent again after an unclear answer: it may have created a job, and a second
    // would import the same users (import-run.ts hands a batch in that state to the per-user path instead).
    const maxRetries = write && IMPORT_CREATE.test(url) ? 0 : this.opts.maxRetries;
    for (;;) {
      await pacer.acquire(init.signal ?? undefined);
      this.stats.calls++;
      const attempt = AbortSignal.timeout(this.opts.timeoutMs);
      const signal = init.signal ? AbortSignal.any([init.signal, attempt]) : attempt;
      let res: Response;
      try {
        res = await rawFetch(url, { ...req, signal });
      } catch (err) {
        if (init.signal?.aborted) throw err;
        if (failures < maxRetries) {
          failures++;
          this.stats.retries++;
          uncertain ||= write;
          await sleep(backoff(failures));
          continue;
        }
        if (attempt.aborted) {
          // The SDK reports an AbortError as a timeout (ManagementTimeoutError).
          const e = new Error(`no answer within ${this.opts.timeoutMs} ms`);
          e.name = "AbortError";
          throw e;
        }
        throw err;
      }
      this.stats.byStatus[res.status] = (this.stats.byStatus[res.status] ?? 0) + 1;
      // Two import jobs running already (Auth0's limit of active jobs, not a bucket's): answered at once, and the
      // bucket's pace is left as it is.
      if (res.status === 429 && write && IMPORT_CREATE.test(url) && res.headers.get("x-ratelimit-remaining") !== "0") return res;
      pacer.observe(res.status, res.headers);
      if (res.status === 429) {
        this.stats.status429++;
        if (rateWaits < maxRateWaits) {
          rateWaits++;
          await res.arrayBuffer().catch(() => undefined);
          await pacer.waitForReset(init.signal ?? undefined);
          continue;
        }
        return res;
      }
      if ((res.status >= 500 || res.status === 408) && failures < maxRetries) {
        failures++;
        this.stats.retries++;
        uncertain ||= write;
        await res.arrayBuffer().catch(() => undefined);
        await sleep(backoff(failures));
        continue;
      }
      if (res.status === 401 && !reauthenticated) {
        reauthenticated = true;
        await res.arrayBuffer().catch(() => undefined);
        this.tokens.invalidate();
        req = setHeader(req, "authorization", `Bearer ${await this.token()}`);
        continue;
      }
      if (uncertain && res.status === 409) {
        const headers = new Headers(res.headers);
        headers.set(EARLIER_ATTEMPT_UNANSWERED, "1");
        return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
      }
      return res;
    }
  }

  private toCurrent(u: Management.UserResponseSchema | Management.GetUserResponseContent): CurrentUser {
    const r = u as Record<string, unknown>;
    const cur: CurrentUser = { user_id: String(u.user_id) };
    // The catalog's fields (core/fields.ts), as Auth0 returns them: text as strings, booleans as booleans.
    if (typeof r.email === "string") cur.email = r.email;
    for (const k of TEXT_FIELDS) if (typeof r[k] === "string") cur[k] = r[k];
    for (const k of BOOLEAN_FIELDS) if (typeof r[k] === "boolean") (cur as Record<string, unknown>)[k] = r[k];
    cur.user_metadata = (r.user_metadata as JsonObject | undefined) ?? {};
    cur.app_metadata = (r.app_metadata as JsonObject | undefined) ?? {};
    return cur;
  }

  /**
   * The user with this email in the configured connection, or null. Auth0 may hold the same email in other
   * connections; those are ignored. Several candidates are never guessed between: the row is rejected.
   */
  async findByEmail(email: string): Promise<CurrentUser | null> {
    const found = await callAuth0("find user by email", () => this.users.listUsersByEmail({ email: email.toLowerCase() }));
    const candidates = found.filter((u) => (u.identities ?? []).some((i) => i.connection === this.opts.connection));
    if (candidates.length > 1) {
      throw new Auth0Error(`find user by email: ${candidates.length} users in connection ${this.opts.connection} match; refusing to guess`, {
        kind: "ambiguous",
        retryable: false,
      });
    }
    return candidates[0] ? this.toCurrent(candidates[0]) : null;
  }

  /** The user, or null when Auth0 has no such user. */
  async getById(userId: string): Promise<CurrentUser | null> {
    try {
      return this.toCurrent(await callAuth0("get user", () => this.users.get(userId)));
    } catch (err) {
      if (err instanceof Auth0Error && err.kind === "not_found") return null;
      throw err;
    }
  }

  /** Creates the user in the configured connection; database connections get a random password nobody knows. */
  async create(body: CreateBody): Promise<CurrentUser> {
    const request: Management.CreateUserRequestContent = {
      ...(body as Management.CreateUserRequestContent),
      connection: this.opts.connection,
      verify_email: this.opts.verifyEmail,
    };
    if (this.opts.connectionType === "database") request.password = randomPassword();
    return this.toCurrent(await callAuth0("create user", () => this.users.create(request)));
  }

  /**
   * Applies a patch. Auth0 refuses email, username and password changes in one call, so such a patch is split;
   * a change of email or username names the connection, as Auth0 requires.
   */
  async patch(userId: string, patch: UserPatch): Promise<CurrentUser> {
    const { username, ...rest } = patch;
    const parts: UserPatch[] = [];
    if (username !== undefined && rest.email !== undefined) parts.push(rest, { username });
    else parts.push(patch);
    let result: CurrentUser | undefined;
    for (const part of parts) {
      const body: Management.UpdateUserRequestContent = { ...(part as Management.UpdateUserRequestContent) };
      if (part.email !== undefined || part.username !== undefined || part.phone_number !== undefined) body.connection = this.opts.connection;
      result = this.toCurrent(await callAuth0("update user", () => this.users.update(userId, body)));
    }
    return result!;
  }

  block(userId: string): Promise<CurrentUser> {
    return this.patch(userId, { blocked: true });
  }

  async delete(userId: string): Promise<void> {
    await callAuth0("delete user", () => this.users.delete(userId));
  }

  /** An invitation: a password-change ticket for a user created with a password nobody knows. */
  async passwordChangeTicket(userId: string, opts: { resultUrl?: string; ttlSec?: number; markEmailAsVerified?: boolean }): Promise<string> {
    const res = await callAuth0("create password-change ticket", () =>
      this.tickets.changePassword({
        user_id: userId,
        result_url: opts.resultUrl,
        ttl_sec: opts.ttlSec,
        mark_email_as_verified: opts.markEmailAsVerified,
      }),
    );
    return res.ticket;
  }

  /** Organization memberships and member roles, over this adapter's fetch and token (one per adapter). */
  get organizations(): Auth0Organizations {
    return (this.orgsClient ??= new Auth0Organizations(this));
  }

  /** All roles of the tenant by name, fetched once per process. */
  roleMap(): Promise<Map<string, string>> {
    this.roleIdsByName ??= callAuth0("list roles", async () => {
      const map = new Map<string, string>();
      const page = await this.roles.list({ per_page: 100, include_totals: true });
      for await (const role of page) if (role.name && role.id) map.set(role.name, role.id);
      return map;
    }).catch((err: unknown) => {
      this.roleIdsByName = undefined;
      throw err;
    });
    return this.roleIdsByName;
  }

  /** Forgets the role names: the next lookup lists the tenant's roles again (a role was deleted meanwhile). */
  forgetRoles(): void {
    this.roleIdsByName = undefined;
  }

  /** Role ids for names; an unknown name is a permanent error naming it. */
  async roleIds(names: string[]): Promise<string[]> {
    const map = await this.roleMap();
    const unknown = names.filter((n) => !map.has(n));
    if (unknown.length > 0) {
      throw new Auth0Error(`unknown role${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")} (not defined in the tenant)`, {
        kind: "unknown_role",
        retryable: false,
      });
    }
    return names.map((n) => map.get(n) as string);
  }

  async userRoles(userId: string): Promise<string[]> {
    return callAuth0("list user roles", async () => {
      const names: string[] = [];
      const page = await this.users.roles.list(userId, { per_page: 100, include_totals: true });
      for await (const role of page) if (role.name) names.push(role.name);
      return names.sort();
    });
  }

  async assignRoles(userId: string, names: string[]): Promise<void> {
    if (names.length === 0) return;
    await this.assignRoleIds(userId, await this.roleIds(names));
  }

  /** One user's roles by id: `POST /api/v2/users/{id}/roles`. */
  async assignRoleIds(userId: string, roles: string[]): Promise<void> {
    if (roles.length === 0) return;
    await callAuth0("assign roles", () => this.users.roles.assign(userId, { roles }));
  }

  /**
   * One role to many users: `POST /api/v2/roles/{id}/users`, at most ROLE_USERS_PER_CALL users. Auth0 applies
   * all or none: one user it refuses (absent, at its role limit) fails the whole call.
   */
  async assignRoleToUsers(roleId: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    if (userIds.length > ROLE_USERS_PER_CALL) throw new RangeError(`at most ${ROLE_USERS_PER_CALL} users per role assignment, got ${userIds.length}`);
    await callAuth0("assign role to users", () => this.roles.users.assign(roleId, { users: userIds }));
  }

  async removeRoles(userId: string, names: string[]): Promise<void> {
    if (names.length === 0) return;
    const roles = await this.roleIds(names);
    await callAuth0("remove roles", () => this.users.roles.delete(userId, { roles }));
  }
}

const TOKEN_FETCH_RETRIES = 8;

/**
 * Users per `POST /api/v2/roles/{id}/users`. Auth0's reference gives the `users` array no maximum (its schema has
 * no maxItems, and no limit is documented); a call carries user ids of at most ~70 bytes each, so 100 keeps a
 * request under 8 KB and a refused call's fallback (one call per user) short. See docs/architecture.md.
 */
export const ROLE_USERS_PER_CALL = 100;

/** The import job's creation (adapters/auth0/imports.ts): its 429 may be the active-jobs limit. */
const IMPORT_CREATE = /\/api\/v2\/jobs\/users-imports$/;

function backoff(attempt: number): number {
  return Math.min(2000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
}
