/**
 * An Auth0 Management API v2 emulator, built from Auth0's documentation (the Management API v2 reference and the
 * rate-limit policy): client-credentials tokens, users (create, get, users-by-email, patch, delete), roles,
 * password-change tickets, the tenant's token buckets (one global, or one per endpoint group as a plan has them)
 * with their x-ratelimit-* headers and 429 body, a competing client, and knobs to inject faults. It listens on
 * 127.0.0.1 only. Connections listing, bulk user export and import jobs, role members, organizations (their members
 * and member roles) and rate limits live in the auth0-emulator-* modules it routes to.
 * Bound to a state file (`persistTo`), it journals every write before answering it, so a killed process loses none.
 * It keeps Auth0's tenant log of the writes (auth0-emulator-logs.ts), naming the client that made each: the sync's,
 * others registered with `addClient`, or the Dashboard (`dashboardEdit`); only the sync's requests reach `requestLog`.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { connectionIdOf, listConnections } from "./auth0-emulator-connections.js";
import { DEFAULT_EXPORT_SETTINGS, EXPORT_DOWNLOAD_PREFIX, ExportJobs, type ExportJobSettings } from "./auth0-emulator-exports.js";
import type { RateLimitSettings } from "../functions/core/rate-limits.js";
import { apiError, HttpError, invalidBody, type Json, type JsonObject, typeName } from "./auth0-emulator-http.js";
import { DEFAULT_IMPORT_SETTINGS, type ImportedProfile, type ImportJobSettings, ImportJobs, type ImportStats, type ImportTarget, type UpsertedFields } from "./auth0-emulator-imports.js";
import { Competitor, type CompetitorSettings, isDeclaredRoute, routeOf, TenantBuckets, TokenBucket } from "./auth0-emulator-limits.js";
import { isTenantOrganization, type OrgJournalRecord, Organizations, type TenantOrganization } from "./auth0-emulator-orgs.js";
import { parseMultipart } from "./auth0-emulator-import-file.js";
import { API_CHANNEL, DASHBOARD_CHANNEL, describeOperation, isLoggedMethod, redactSecrets, TenantLog, type TenantLogAuth } from "./auth0-emulator-logs.js";
import { listRoleUsers } from "./auth0-emulator-role-users.js";
import { seededRandom } from "./random.js";

export type { CompetitorSettings } from "./auth0-emulator-limits.js";
export type { TenantOrganization } from "./auth0-emulator-orgs.js";
export type { TenantLogEntry } from "./auth0-emulator-logs.js";

export const DEFAULT_CLIENT_ID = "local-sync-client";
export const DEFAULT_CLIENT_SECRET = "local-sync-secret-not-for-production";
export const DEFAULT_DOMAIN = "tenant.emulator.local";
export const DEFAULT_CONNECTION = "Username-Password-Authentication";
/** The sync's client as the tenant log names it. */
export const DEFAULT_CLIENT_NAME = "auth0-sync";
/**
 * The Auth0 Dashboard's application in the log of a Dashboard edit. Auth0 logs those under the tenant's "Global Client
 * ID" (Settings > Advanced; https://github.com/auth0/auth0-customer-detections,
 * detections/client_with_overpermissive_granted_scopes.yml); this stands for it, in the shape of Auth0's 32-character
 * client ids. Auth0 documents no name for it (entries may carry an empty client_name): the name is the emulator's.
 */
export const DASHBOARD_CLIENT_ID = "LocalEmulatorManageDashboard0001";
export const DASHBOARD_CLIENT_NAME = "Auth0 Management Dashboard";

/** The tenant admin signed in to the Dashboard, as a Dashboard edit's log entry shows it (`details.request.auth.user`). */
export interface DashboardAdmin {
  user_id: string;
  name: string;
  email: string;
}
export const DEFAULT_DASHBOARD_ADMIN: DashboardAdmin = { user_id: "auth0|emulator-admin", name: "Emulator Admin", email: "admin@tenant.emulator.local" };

/** Another Management API client of the tenant (client credentials), for `addClient`. */
export interface EmulatorClient {
  clientId: string;
  clientSecret: string;
  name: string;
  /** The scopes its tokens carry; default those of the sync's client. */
  scopes?: string[];
}

/** What the sync's client is granted: the product's needs, and read:logs to read the tenant log. */
const DEFAULT_SCOPES = [
  "read:users", "create:users", "update:users", "delete:users", "read:roles", "create:role_members", "delete:role_members", "create:user_tickets",
  "read:organizations", "read:organization_members", "create:organization_members", "delete:organization_members",
  "read:organization_member_roles", "create:organization_member_roles", "delete:organization_member_roles", "read:logs",
];

/** A token's grant: its client, its id (the log's `jti`), and for a Dashboard session the admin behind it. */
interface TokenGrant {
  exp: number;
  clientId: string;
  jti: string;
  admin?: DashboardAdmin;
}


export interface EmulatorConnection {
  name: string;
  /** "auth0" is a database connection (password required); "email" is passwordless. */
  strategy: "auth0" | "email";
  requiresUsername?: boolean;
}

export interface Auth0EmulatorOptions {
  port?: number;
  domain?: string;
  clientId?: string;
  clientSecret?: string;
  /** The sync's client's name in the tenant log (default "auth0-sync"). */
  clientName?: string;
  /** Most entries the tenant log keeps (default 100,000; 0 keeps none, listeners still hear them). */
  tenantLogCapacity?: number;
  /** Sustained requests per second of the one global bucket (default 16, Enterprise production); see `limits`. */
  rate?: number;
  /** Size of the one global bucket (default 50). */
  burst?: number;
  /** A plan's buckets (or a global budget with per-group overrides), from the product's catalog; wins over rate/burst. */
  limits?: RateLimitSettings;
  /** Another client of the tenant drawing on the buckets while the emulator runs. */
  competitor?: CompetitorSettings;
  /** Most users one POST /roles/{id}/users may list (Auth0 documents no maximum; default none). */
  maxRoleUsersPerRequest?: number;
  connections?: EmulatorConnection[];
  /** Role names that exist in the tenant. */
  roles?: string[];
  /** Names of organizations that exist in the tenant (display name = name); see `addOrganization`. */
  organizations?: string[];
  tokenLifetimeSec?: number;
  faults?: Partial<FaultSettings>;
  /** Seed of the random choices of fault injection, for repeatable runs. */
  seed?: number;
  /** How long a bulk user export job takes from creation to completion (default 300 ms). */
  exportJobDurationMs?: number;
  /** How long an export job's `location` stays valid (default 60,000 ms, as Auth0 documents). */
  exportLocationTtlMs?: number;
  /** Users an import job processes per second (default 111, about 400,000 an hour; see auth0-emulator-imports). */
  importUsersPerSecond?: number;
  /** From creation, after which an unfinished import job fails (default 2 h, as Auth0 documents). */
  importJobTimeoutMs?: number;
}

export interface FaultSettings {
  /** Share (0..1) of Management API requests answered 500/503. */
  failRate: number;
  /** Of the failed writes, the share that fail after the write was applied (the client cannot tell). */
  failAfterWriteShare: number;
  /** Added latency per request, and a uniform random jitter on top. */
  latencyMs: number;
  jitterMs: number;
}

export interface RequestLogEntry {
  /** Epoch ms when the request arrived, which is when the bucket was charged. */
  t: number;
  method: string;
  route: string;
  status: number;
  /** The bucket charged: "global", a group's ("writeUsers", "other", ...), "oauth-token", or "none". */
  bucket: string;
}

interface StoredUser {
  user_id: string;
  connection: string;
  email?: string;
  email_verified: boolean;
  given_name?: string;
  family_name?: string;
  name?: string;
  nickname?: string;
  picture?: string;
  phone_number?: string;
  phone_verified?: boolean;
  username?: string;
  blocked?: boolean;
  user_metadata: JsonObject;
  app_metadata: JsonObject;
  created_at: string;
  updated_at: string;
  /** sha256 of the password: the emulator never keeps a plaintext password. */
  passwordHash?: string;
  roles: Set<string>;
  /**
   * Accounts linked into this one (Auth0's account linking): each shown after the primary in `identities`, as
   * Auth0 shows them (`user_id` without the provider's prefix).
   */
  linkedIdentities?: { provider: string; user_id: string; connection: string; isSocial: boolean }[];
}

/** A user as `state()` shows it: no password (only whether one is set), role names instead of ids. */
export type TenantUser = Omit<StoredUser, "passwordHash" | "roles"> & { hasPassword: boolean; roles: string[] };

export interface TenantState {
  users: TenantUser[];
  roles: { id: string; name: string }[];
  tickets: { user_id: string; result_url?: string; ttl_sec?: number }[];
  /** Users to whom Auth0 would have sent a verification email (verify_email defaults to true on create). */
  verificationEmails: string[];
  /**
   * Organizations with their members and each member's roles (by name) in that organization. Optional: a state
   * file written before organizations were emulated has none, and loading it keeps the tenant's.
   */
  organizations?: TenantOrganization[];
}

/**
 * One line of the tenant journal: the record a write left, whole, so replaying a line twice changes nothing
 * (tickets and verification emails, which only grow, carry their index).
 */
type JournalRecord =
  | { op: "user"; user: TenantUser }
  | { op: "delete"; user_id: string }
  | { op: "role"; role: { id: string; name: string } }
  | { op: "ticket"; i: number; ticket: TenantState["tickets"][number] }
  | { op: "verify"; i: number; user_id: string }
  | OrgJournalRecord;

/** A state file or its journal that cannot be read; the message names the file, never its contents. */
export class TenantFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TenantFileError";
  }
}

/** The journal beside a state file: `tenant.json` -> `tenant.journal`. */
export const journalFileOf = (file: string): string => `${file.replace(/\.json$/, "")}.journal`;

// The emulator keeps its own copy of Auth0's rules (reserved keys, limits) rather than importing the core's:
// it is the oracle the core's validation is tested against, so a mistake in one is caught by the other.
const RESERVED_APP_METADATA = new Set([
  "blocked",
  "clientID",
  "created_at",
  "email",
  "email_verified",
  "globalClientID",
  "global_client_id",
  "identities",
  "lastIP",
  "lastLogin",
  "loginsCount",
  "metadata",
  "multifactor",
  "updated_at",
  "user_id",
]);

const CREATE_PROPS = new Set([
  "email",
  "phone_number",
  "user_metadata",
  "blocked",
  "email_verified",
  "phone_verified",
  "app_metadata",
  "given_name",
  "family_name",
  "name",
  "nickname",
  "picture",
  "user_id",
  "connection",
  "password",
  "verify_email",
  "username",
]);
const PATCH_PROPS = new Set([
  "blocked",
  "email_verified",
  "email",
  "phone_number",
  "phone_verified",
  "user_metadata",
  "app_metadata",
  "given_name",
  "family_name",
  "name",
  "nickname",
  "picture",
  "verify_email",
  "verify_phone_number",
  "password",
  "connection",
  "client_id",
  "username",
]);
const STRING_LIMITS: Record<string, [number, number]> = {
  given_name: [1, 150],
  family_name: [1, 150],
  name: [1, 300],
  nickname: [1, 300],
  username: [1, 128],
  picture: [1, 2048],
  email: [3, 254],
};
const BOOLEAN_PROPS = new Set(["blocked", "email_verified", "phone_verified", "verify_email", "verify_phone_number"]);
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PROFILE_LIMIT = 10 * 1024;
const MAX_ROLES_PER_USER = 50;
const tooManyRoles = (): HttpError => apiError(400, `A user can have at most ${MAX_ROLES_PER_USER} roles`, "too_many_roles");

export class Auth0Emulator {
  readonly domain: string;
  readonly clientId: string;
  /** Every client that may ask /oauth/token for a token (the Dashboard's has no secret: it never does). */
  private readonly clients = new Map<string, EmulatorClient & { scopes: string[] }>();
  /** The tenant log: every Management API write, whoever made it (`GET /api/v2/logs` reads it). */
  readonly tenantLog: TenantLog;
  private readonly connections: Map<string, EmulatorConnection>;
  private readonly users = new Map<string, StoredUser>();
  private readonly byConnectionEmail = new Map<string, string>();
  private readonly roles = new Map<string, { id: string; name: string; description: string }>();
  private readonly orgs = new Organizations({
    user: (id) => {
      const u = this.users.get(id);
      return u && { user_id: u.user_id, email: u.email, name: u.name, picture: u.picture };
    },
    roleById: (id) => this.roles.get(id),
    roleByName: (name) => [...this.roles.values()].find((r) => r.name === name),
    ensureRole: (name) => void this.addRole(name),
    journal: (rec) => this.journal(rec),
  });
  private readonly tokens = new Map<string, TokenGrant>();
  private readonly tickets: TenantState["tickets"] = [];
  private readonly verificationEmails: string[] = [];
  private readonly buckets: TenantBuckets;
  private readonly competitor = new Competitor(() => this.buckets);
  private readonly tokenBucket = new TokenBucket(30, 10);
  private faults: FaultSettings;
  private stormUntil = 0;
  private readonly random: () => number;
  private server?: Server;
  private readonly exports: ExportJobs;
  private readonly imports: ImportJobs;
  /** The state file this tenant persists to, its journal, and the journal's descriptor once opened. */
  private persisted?: { file: string; journal: string; fd?: number };
  private readonly log: RequestLogEntry[] = [];
  tokenLifetimeSec: number;
  /** Tokens handed out by /oauth/token to the sync's client (like `requestLog`, other clients' are not counted). */
  tokensIssued = 0;

  constructor(private readonly options: Auth0EmulatorOptions = {}) {
    this.domain = options.domain ?? DEFAULT_DOMAIN;
    this.clientId = options.clientId ?? DEFAULT_CLIENT_ID;
    this.clients.set(this.clientId, { clientId: this.clientId, clientSecret: options.clientSecret ?? DEFAULT_CLIENT_SECRET, name: options.clientName ?? DEFAULT_CLIENT_NAME, scopes: DEFAULT_SCOPES });
    this.clients.set(DASHBOARD_CLIENT_ID, { clientId: DASHBOARD_CLIENT_ID, clientSecret: "", name: DASHBOARD_CLIENT_NAME, scopes: DEFAULT_SCOPES });
    this.tenantLog = new TenantLog(options.tenantLogCapacity);
    this.connections = new Map(
      (options.connections ?? [{ name: DEFAULT_CONNECTION, strategy: "auth0" }]).map((c) => [c.name, c] as const),
    );
    this.buckets = new TenantBuckets(options);
    this.competitor.set(options.competitor, false);
    this.tokenLifetimeSec = options.tokenLifetimeSec ?? 86_400;
    this.faults = { failRate: 0, failAfterWriteShare: 0.5, latencyMs: 0, jitterMs: 0, ...options.faults };
    this.random = seededRandom(options.seed ?? 0x5eed);
    for (const name of options.roles ?? []) this.addRole(name);
    for (const name of options.organizations ?? []) this.addOrganization(name);
    const exportSource = {
      connectionName: (id: string) => [...this.connections.keys()].find((name) => connectionIdOf(name) === id),
      users: (connection: string | undefined) => [...this.users.values()].filter((u) => connection === undefined || u.connection === connection).map((u) => this.view(u)),
      baseUrl: () => this.baseUrl,
    };
    this.exports = new ExportJobs(
      exportSource,
      { ...DEFAULT_EXPORT_SETTINGS, durationMs: options.exportJobDurationMs ?? DEFAULT_EXPORT_SETTINGS.durationMs, locationTtlMs: options.exportLocationTtlMs ?? DEFAULT_EXPORT_SETTINGS.locationTtlMs },
      this.domain.split(".")[0] ?? "tenant",
    );
    this.imports = new ImportJobs(this.importTarget(), {
      ...DEFAULT_IMPORT_SETTINGS,
      usersPerSecond: options.importUsersPerSecond ?? DEFAULT_IMPORT_SETTINGS.usersPerSecond,
      timeoutMs: options.importJobTimeoutMs ?? DEFAULT_IMPORT_SETTINGS.timeoutMs,
    });
  }

  /** Starts listening on 127.0.0.1 (port 0: chosen by the OS). Returns the base URL. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port ?? 0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.competitor.start();
    return this.baseUrl;
  }

  get baseUrl(): string {
    if (!this.server) throw new Error("emulator not started");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.competitor.stop();
    this.exports.close();
    this.imports.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.closeJournal();
  }

  // Persistence.

  /**
   * Binds the tenant to a state file (as `state()` shows it): loads it, replays the journal beside it
   * (`journalFileOf`), and from then on appends every write to that journal before the write is answered, so a
   * process killed at any point loses no acknowledged write. A last line torn by a kill mid-append is dropped
   * (its write was never answered). Without a state file, one is written with the tenant as it stands. The tenant
   * log is not persisted: a new process starts with an empty one, as after Auth0's retention (auth0-emulator-logs.ts).
   */
  persistTo(file: string): void {
    if (this.persisted) throw new Error(`the emulator already persists to ${this.persisted.file}`);
    const journal = journalFileOf(file);
    // A state file from before organizations were emulated: the tenant keeps its organizations, journaled below.
    let keepsOrganizations = false;
    if (existsSync(file)) {
      let state: TenantState;
      try {
        state = JSON.parse(readFileSync(file, "utf8")) as TenantState;
      } catch {
        throw new TenantFileError(`${file} is not a valid tenant file (not JSON)`);
      }
      if (!isTenantState(state)) throw new TenantFileError(`${file} is not a valid tenant file (unexpected contents)`);
      this.load(state);
      keepsOrganizations = state.organizations === undefined;
    }
    if (existsSync(journal)) this.replay(journal);
    this.persisted = { file, journal };
    if (!existsSync(file)) this.checkpoint();
    else if (keepsOrganizations && this.orgs.state().length > 0) this.journal(...this.orgs.records());
  }

  /**
   * Writes the whole tenant to the bound state file atomically, then removes the journal (its writes are in the
   * file; a kill in between replays them again, which changes nothing).
   */
  checkpoint(): void {
    const p = this.persisted;
    if (!p) throw new Error("the emulator is not bound to a state file (see persistTo)");
    writeFileSync(`${p.file}.tmp`, JSON.stringify(this.state()));
    renameSync(`${p.file}.tmp`, p.file);
    this.closeJournal();
    rmSync(p.journal, { force: true });
  }

  /** Appends records to the journal (one write, one line each) when the tenant is bound to a state file. */
  private journal(...records: JournalRecord[]): void {
    const p = this.persisted;
    if (!p) return;
    p.fd ??= openSync(p.journal, "a");
    const data = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(""), "utf8");
    for (let off = 0; off < data.length; ) off += writeSync(p.fd, data, off);
  }

  private closeJournal(): void {
    if (this.persisted?.fd === undefined) return;
    closeSync(this.persisted.fd);
    this.persisted.fd = undefined;
  }

  private replay(journal: string): void {
    const buf = readFileSync(journal);
    // Only whole lines count: a kill mid-append leaves a torn last line, whose write was never answered.
    const whole = buf.lastIndexOf(0x0a) + 1;
    const lines = buf.subarray(0, whole).toString("utf8").split("\n");
    lines.forEach((line, n) => {
      if (line === "") return;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        rec = undefined;
      }
      if (!this.apply(rec)) throw new TenantFileError(`${journal} is not a valid tenant journal (line ${n + 1} is not a record)`);
    });
    this.reindex();
    if (whole < buf.length) truncateSync(journal, whole);
  }

  /** Applies one journal record; false when it is not one. */
  private apply(rec: unknown): boolean {
    if (rec === null || typeof rec !== "object") return false;
    const r = rec as JournalRecord;
    switch (r.op) {
      case "user":
        if (!isTenantUser(r.user)) return false;
        this.restoreUser(r.user);
        return true;
      case "delete":
        if (typeof r.user_id !== "string") return false;
        this.users.delete(r.user_id);
        this.orgs.removeUser(r.user_id);
        return true;
      case "org":
        return this.orgs.apply(r);
      case "role": {
        if (typeof r.role?.id !== "string" || typeof r.role.name !== "string") return false;
        // Role names are unique: one by the same name under another id (e.g. made anew by this process's
        // constructor) gives way, and its users follow.
        for (const other of [...this.roles.values()]) {
          if (other.name !== r.role.name || other.id === r.role.id) continue;
          this.roles.delete(other.id);
          for (const u of this.users.values()) if (u.roles.delete(other.id)) u.roles.add(r.role.id);
        }
        this.roles.set(r.role.id, { id: r.role.id, name: r.role.name, description: r.role.name });
        return true;
      }
      case "ticket":
      case "verify": {
        if (!Number.isInteger(r.i) || r.i < 0) return false;
        const [list, value] = r.op === "ticket" ? [this.tickets as unknown[], r.ticket] : [this.verificationEmails as unknown[], r.user_id];
        if (r.op === "ticket" ? typeof r.ticket?.user_id !== "string" : typeof r.user_id !== "string") return false;
        list[Math.min(r.i, list.length)] = value;
        return true;
      }
      default:
        return false;
    }
  }

  /** A stored user from its record (role names resolved, created when missing); the email index is left alone. */
  private restoreUser(u: TenantUser): StoredUser {
    const { hasPassword, roles, ...rest } = u;
    const ids = new Map([...this.roles.values()].map((r) => [r.name, r.id]));
    const stored: StoredUser = {
      ...structuredClone(rest),
      passwordHash: hasPassword ? "restored" : undefined,
      roles: new Set(roles.map((n) => ids.get(n) ?? this.addRole(n))),
    };
    this.users.set(stored.user_id, stored);
    return stored;
  }

  private reindex(): void {
    this.byConnectionEmail.clear();
    for (const u of this.users.values()) if (u.email) this.byConnectionEmail.set(`${u.connection}\u0000${u.email}`, u.user_id);
  }

  /** A user as `state()` and the journal show it. */
  private tenantUser(u: StoredUser, roles: Set<string> = u.roles): TenantUser {
    const { passwordHash, roles: _ids, ...rest } = u;
    return structuredClone({ ...rest, hasPassword: Boolean(passwordHash), roles: [...roles].map((id) => this.roles.get(id)?.name ?? id).sort() });
  }

  // Knobs for tests and benchmarks.

  setFaults(f: Partial<FaultSettings>): void {
    this.faults = { ...this.faults, ...f };
  }

  /** One global bucket for the whole Management API, full. */
  setRateLimit(rate: number, burst: number): void {
    this.buckets.setGlobal(rate, burst);
  }

  /** A plan's buckets (or a global budget with per-group overrides), all full. */
  setLimits(settings: RateLimitSettings): void {
    this.buckets.setLimits(settings);
  }

  /** Each Management API bucket's size and whole tokens left. */
  bucketLevels(): Record<string, { limit: number; remaining: number }> {
    return this.buckets.levels(Date.now());
  }

  /** Sets or (undefined) removes the competing client; on a running emulator its clock starts now. */
  setCompetitor(s: CompetitorSettings | undefined): void {
    this.competitor.set(s, this.server !== undefined);
  }

  /** The competing client's requests: tried, admitted (a token taken) and refused (429 to it). */
  competitorStats(): { attempted: number; admitted: number; refused: number } {
    return this.competitor.stats();
  }

  /** Changes how export jobs behave: job duration (for jobs created from now on), location TTL, slow streaming. */
  setExportJobSettings(s: Partial<ExportJobSettings>): void {
    Object.assign(this.exports.settings, s);
  }

  /** Makes the next `count` export jobs end with status "failed" instead of "completed". */
  failNextExportJob(count = 1): void {
    this.exports.failNextJobs(count);
  }

  /** Changes how import jobs behave (users per second, pending time, timeout, retention), from now on. */
  setImportJobSettings(s: Partial<ImportJobSettings>): void {
    Object.assign(this.imports.settings, s);
  }

  /** Makes the next `count` import jobs fail once half their users are processed (those stay in the tenant). */
  failNextImportJobs(count = 1): void {
    this.imports.failNextJobs(count);
  }

  /** Import jobs created, completion emails Auth0 would have sent, and the users inserted, updated and failed. */
  importStats(): ImportStats {
    return this.imports.stats();
  }

  /** The stable id of a configured connection (`con_` and 16 letters or digits, derived from the name). */
  connectionId(name: string): string {
    if (!this.connections.has(name)) throw new Error(`no connection named ${name}`);
    return connectionIdOf(name);
  }

  /** Answers every Management API request with 429 for the given time; x-ratelimit-reset points at its end. */
  storm429(durationMs: number): void {
    this.stormUntil = Date.now() + durationMs;
  }

  /** When set, the plaintext of every password received is kept here: for the security suite only. */
  capturedPasswords?: string[];

  /** Every access token issued so far: the security suite looks for them in captured logs. */
  issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  /** Makes every token issued so far expired, as if its lifetime had run out. */
  expireAllTokens(): void {
    for (const grant of this.tokens.values()) grant.exp = 0;
  }

  /**
   * Registers another client-credentials client of the tenant. Its requests are charged to the buckets like any
   * other, logged in the tenant log under its id and name, and kept out of `requestLog`, which stays the sync's.
   */
  addClient(client: EmulatorClient): void {
    if (this.clients.has(client.clientId)) throw new Error(`a client with id ${client.clientId} exists already`);
    this.clients.set(client.clientId, { ...client, scopes: [...(client.scopes ?? DEFAULT_SCOPES)] });
  }

  /** A token of a Dashboard session of `admin` (the Dashboard signs its admins in; it asks no client credentials). */
  dashboardToken(admin: DashboardAdmin = DEFAULT_DASHBOARD_ADMIN): string {
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(token, { exp: Date.now() + this.tokenLifetimeSec * 1000, clientId: DASHBOARD_CLIENT_ID, jti: randomBytes(16).toString("hex"), admin: { ...admin } });
    return token;
  }

  /**
   * A Management API request as an admin editing in the Dashboard makes it (`path` under /api/v2, with or without
   * that prefix), over HTTP like any client's: rate-limited, logged with the Dashboard's channel and the admin, and
   * not in `requestLog`.
   */
  async dashboardEdit(method: string, path: string, body?: unknown, admin?: DashboardAdmin): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.dashboardToken(admin)}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const url = `${this.baseUrl}${path.startsWith("/api/v2/") ? path : `/api/v2${path}`}`;
    return fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  /**
   * Creates an organization (`org_` and 16 letters or digits; names as Auth0 allows them: 1-50 of a-z, 0-9, _ and
   * -) and returns its id; a name that exists already returns that organization's id.
   */
  addOrganization(name: string, displayName?: string): string {
    return this.orgs.add(name, displayName);
  }

  /** The user ids of an organization's members, sorted (for assertions). */
  organizationMembers(orgName: string): string[] {
    return this.orgs.members(orgName);
  }

  /** The names of a member's roles in an organization, sorted (for assertions). */
  memberRoles(orgName: string, userId: string): string[] {
    return this.orgs.memberRoles(orgName, userId);
  }

  addRole(name: string): string {
    const existing = [...this.roles.values()].find((r) => r.name === name);
    if (existing) return existing.id;
    const id = `rol_${randomBytes(8).toString("hex")}`;
    this.journal({ op: "role", role: { id, name } });
    this.roles.set(id, { id, name, description: name });
    return id;
  }

  get requestLog(): readonly RequestLogEntry[] {
    return this.log;
  }

  clearLog(): void {
    this.log.length = 0;
  }

  /** Request counts by "METHOD route status", and totals. */
  counters(): { total: number; byStatus: Record<string, number>; byEndpoint: Record<string, number> } {
    const byStatus: Record<string, number> = {};
    const byEndpoint: Record<string, number> = {};
    for (const e of this.log) {
      byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
      const k = `${e.method} ${e.route} ${e.status}`;
      byEndpoint[k] = (byEndpoint[k] ?? 0) + 1;
    }
    return { total: this.log.length, byStatus, byEndpoint };
  }

  /** The whole tenant, for assertions. Passwords are never exposed, only whether one is set. */
  state(): TenantState {
    return {
      users: [...this.users.values()].map((u) => this.tenantUser(u)),
      roles: [...this.roles.values()].map(({ id, name }) => ({ id, name })),
      tickets: structuredClone(this.tickets),
      verificationEmails: [...this.verificationEmails],
      organizations: this.orgs.state(),
    };
  }

  /**
   * Loads a tenant state (as `state()` returns it), replacing the tenant. Bound to a state file (`persistTo`),
   * the file is rewritten with it at once.
   */
  load(state: TenantState): void {
    this.users.clear();
    this.roles.clear();
    for (const r of state.roles) this.roles.set(r.id, { id: r.id, name: r.name, description: r.name });
    for (const u of state.users) this.restoreUser(u);
    this.reindex();
    this.tickets.splice(0, this.tickets.length, ...structuredClone(state.tickets));
    this.verificationEmails.splice(0, this.verificationEmails.length, ...(state.verificationEmails ?? []));
    if (state.organizations !== undefined) this.orgs.load(state.organizations);
    this.orgs.pruneMembers((id) => this.users.has(id));
    if (this.persisted) this.checkpoint();
  }

  // HTTP.

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    const method = req.method ?? "GET";
    // An export file's link is presigned: no token, no Management API rate limit, no request log entry.
    if (method === "GET" && url.pathname.startsWith(EXPORT_DOWNLOAD_PREFIX)) return this.exports.download(req, res);
    let route = url.pathname;
    let status = 500;
    let headers: Record<string, string> = {};
    let payload: unknown;
    let admittedAt: number | undefined;
    let bucket = "none";
    // The registered client a request comes from, when known: only the sync's (or an unknown caller's) are logged.
    let caller: string | undefined;
    try {
      const bytes = await readBody(req);
      const rawBody = bytes.toString("utf8");
      // Like Auth0's edge, the bucket is charged when a request arrives; processing time (latency) comes after.
      const { latencyMs, jitterMs } = this.faults;
      const delay = latencyMs > 0 || jitterMs > 0 ? sleep(latencyMs + this.random() * jitterMs) : undefined;
      if (url.pathname === "/oauth/token" && method === "POST") {
        await delay;
        route = "/oauth/token";
        bucket = "oauth-token";
        const now = Date.now();
        if (!this.tokenBucket.take(now)) throw new HttpError(429, { error: "too_many_requests", error_description: "Too Many Requests" });
        const params = tokenParams(req.headers["content-type"] ?? "", rawBody);
        if (this.clients.has(params.client_id ?? "")) caller = params.client_id;
        [status, payload] = [200, this.issueToken(params)];
      } else if (url.pathname.startsWith("/api/v2/")) {
        const now = Date.now();
        admittedAt = now;
        route = routeOf(url.pathname);
        caller = this.tokens.get(bearerOf(req.headers.authorization))?.clientId;
        // Each request is charged to its endpoint group's bucket only; the headers describe that bucket.
        const charged = this.buckets.chargeOf(method, route);
        bucket = charged.name;
        const storming = now < this.stormUntil;
        const admitted = !storming && charged.bucket.take(now);
        const rl = charged.bucket.headers(now);
        headers = {
          "x-ratelimit-limit": String(rl.limit),
          "x-ratelimit-remaining": String(storming ? 0 : rl.remaining),
          "x-ratelimit-reset": String(storming ? Math.ceil(this.stormUntil / 1000) : rl.reset),
        };
        await delay;
        if (!admitted) {
          throw apiError(429, "Global limit has been reached", "too_many_requests");
        }
        const grant = this.authenticate(req.headers.authorization);
        const failing = this.faults.failRate > 0 && this.random() < this.faults.failRate;
        const isWrite = method !== "GET";
        if (failing && !(isWrite && this.random() < this.faults.failAfterWriteShare)) throw this.serverError();
        const op: Operation = { method, url, route, grant, req, bytes, contentType: req.headers["content-type"] ?? "" };
        let extra: Record<string, string> | undefined;
        try {
          [status, payload, extra] = this.route(method, url, rawBody, { contentType: op.contentType, bytes }, grant);
        } catch (err) {
          // A write Auth0 refused (4xx, or a 429 of its own such as the import jobs limit) is a failed API operation.
          if (err instanceof HttpError && isLoggedMethod(method)) this.logOperation("fapi", op, err.status, err.body, err.message);
          throw err;
        }
        // A route answered but missing from EMULATOR_ROUTES would escape the rate-limit cross-check.
        if (!isDeclaredRoute(method, route)) throw new Error(`${method} ${route} is not in EMULATOR_ROUTES`);
        headers = { ...headers, ...extra };
        // Before an injected failure: the write is applied, so a client watching the log must see it.
        if (isLoggedMethod(method)) this.logOperation("sapi", op, status, payload);
        if (failing) throw this.serverError();
      } else {
        await delay;
        throw apiError(404, "Not Found");
      }
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        payload = err.body;
      } else {
        status = 500;
        payload = { statusCode: 500, error: "Internal Server Error", message: (err as Error).message };
      }
    }
    // The request log is the sync's (benchmarks count it): other clients' requests stay out, like the competitor's.
    if (caller === undefined || caller === this.clientId) this.log.push({ t: admittedAt ?? Date.now(), method, route, status, bucket });
    const body = status === 204 || payload === undefined ? "" : JSON.stringify(payload);
    res.writeHead(status, { ...headers, ...(body ? { "content-type": "application/json; charset=utf-8" } : {}) });
    res.end(body);
  }

  private serverError(): HttpError {
    return this.random() < 0.5
      ? apiError(500, "Internal Server Error", "internal_error")
      : apiError(503, "The service is temporarily unavailable", "service_unavailable");
  }

  private issueToken(params: Record<string, string | undefined>): JsonObject {
    if (params.grant_type !== "client_credentials") {
      throw new HttpError(403, { error: "unsupported_grant_type", error_description: "Unsupported grant type" });
    }
    const client = this.clients.get(params.client_id ?? "");
    // The Dashboard's application has no secret: it never asks for client credentials.
    if (!client?.clientSecret || params.client_secret !== client.clientSecret) {
      throw new HttpError(401, { error: "access_denied", error_description: "Unauthorized" });
    }
    const audience = `https://${this.domain}/api/v2/`;
    if (params.audience !== audience) {
      throw new HttpError(403, { error: "access_denied", error_description: `Service not enabled within domain: ${params.audience}` });
    }
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(token, { exp: Date.now() + this.tokenLifetimeSec * 1000, clientId: client.clientId, jti: randomBytes(16).toString("hex") });
    if (client.clientId === this.clientId) this.tokensIssued++;
    return { access_token: token, token_type: "Bearer", expires_in: this.tokenLifetimeSec, scope: client.scopes.join(" ") };
  }

  private authenticate(header: string | undefined): TokenGrant {
    if (!/^Bearer (.+)$/.test(header ?? "")) throw apiError(401, "Missing authentication");
    const grant = this.tokens.get(bearerOf(header));
    if (grant === undefined) throw apiError(401, "Invalid token");
    if (Date.now() >= grant.exp) {
      throw new HttpError(401, {
        statusCode: 401,
        error: "Unauthorized",
        message: "Expired token received for JSON Web Token validation",
        attributes: { error: "Expired token received for JSON Web Token validation" },
      });
    }
    return grant;
  }

  /**
   * Appends a Management API write to the tenant log: who made it (the client, and for the Dashboard the admin),
   * what was asked (secrets redacted) and what was answered.
   */
  private logOperation(type: "sapi" | "fapi", op: Operation, statusCode: number, response: unknown, failure?: string): void {
    const { grant, req, url } = op;
    const client = this.clients.get(grant.clientId);
    const ip = req.socket.remoteAddress ?? "127.0.0.1";
    const userAgent = req.headers["user-agent"];
    const auth: TenantLogAuth = grant.admin
      ? { user: { ...grant.admin }, strategy: "jwt", credentials: { jti: grant.jti } }
      : { user: {}, strategy: "jwt", credentials: { jti: grant.jti, scopes: [...(client?.scopes ?? [])] } };
    let path = url.pathname;
    try {
      path = decodeURIComponent(path);
    } catch {
      // Not valid percent-encoding: logged as requested.
    }
    this.tenantLog.append({
      type,
      description: failure ?? describeOperation(op.method, op.route),
      client_id: grant.clientId,
      client_name: client?.name ?? "",
      ip,
      ...(userAgent ? { user_agent: userAgent } : {}),
      user_id: grant.admin?.user_id ?? "",
      tenant_name: this.domain.split(".")[0] ?? this.domain,
      details: {
        request: { method: op.method.toLowerCase(), path, query: Object.fromEntries(url.searchParams), body: loggedBody(op), channel: grant.admin ? DASHBOARD_CHANNEL : API_CHANNEL, ip, ...(userAgent ? { userAgent } : {}), auth },
        response: { statusCode, ...(response === undefined ? {} : { body: redactSecrets(JSON.parse(JSON.stringify(response)) as Json) }) },
      },
    });
  }

  /** `GET /api/v2/logs` (scope read:logs); in checkpoint mode Auth0's `Link` header names the next page. */
  private readLogs(q: URLSearchParams, grant: TokenGrant): [number, unknown, Record<string, string>?] {
    if (!this.clients.get(grant.clientId)?.scopes.includes("read:logs")) throw apiError(403, "Insufficient scope, expected any of: read:logs", "insufficient_scope");
    const { body, next } = this.tenantLog.query(q);
    return [200, body, next ? { link: `<${this.baseUrl}/api/v2/logs?${next.toString()}>; rel="next"` } : undefined];
  }

  /** `multipart` is the raw request, for the one endpoint that takes multipart/form-data (users imports). */
  private route(method: string, url: URL, raw: string, multipart: { contentType: string; bytes: Buffer }, grant: TokenGrant): [number, unknown, Record<string, string>?] {
    const path = url.pathname.slice("/api/v2".length);
    const q = url.searchParams;
    let m: RegExpExecArray | null;
    if (path === "/users" && method === "POST") return [201, this.createUser(parseJson(raw))];
    if (path === "/users-by-email" && method === "GET") return [200, this.usersByEmail(q.get("email"))];
    if ((m = /^\/users\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1] ?? "");
      if (method === "GET") return [200, this.view(this.mustGet(id))];
      if (method === "PATCH") return [200, this.patchUser(id, parseJson(raw))];
      if (method === "DELETE") return [204, this.deleteUser(id)];
    }
    if ((m = /^\/users\/([^/]+)\/roles$/.exec(path))) {
      const id = decodeURIComponent(m[1] ?? "");
      if (method === "GET") {
        const user = this.mustGet(id);
        return [200, this.page([...user.roles].map((r) => this.roles.get(r)).filter((r) => r !== undefined), q, "roles")];
      }
      if (method === "POST") return [204, this.changeRoles(id, parseJson(raw), "add")];
      if (method === "DELETE") return [204, this.changeRoles(id, parseJson(raw), "remove")];
    }
    if (path === "/connections" && method === "GET") return [200, listConnections(this.connections.values(), q, (items, qs, name) => this.page(items, qs, name))];
    if (path === "/jobs/users-exports" && method === "POST") return [201, this.exports.create(parseJson(raw))];
    if (path === "/jobs/users-imports" && method === "POST") return [202, this.imports.create(multipart.contentType, multipart.bytes)];
    if ((m = /^\/jobs\/([^/]+)$/.exec(path)) && method === "GET") {
      const id = decodeURIComponent(m[1] ?? "");
      return [200, this.imports.has(id) ? this.imports.get(id) : this.exports.get(id)];
    }
    if ((m = /^\/jobs\/([^/]+)\/errors$/.exec(path)) && method === "GET") {
      const id = decodeURIComponent(m[1] ?? "");
      if (this.imports.has(id)) return this.imports.errors(id);
      // An export job has no user errors; a failed one answers with itself, as Auth0's generic job error shape.
      const { type, status, created_at, id: jobId, connection_id } = this.exports.get(id);
      return status === "failed" ? [200, { type, status, created_at, id: jobId, connection_id }] : [204, undefined];
    }
    if ((m = /^\/roles\/([^/]+)\/users$/.exec(path)) && method === "GET") {
      const id = decodeURIComponent(m[1] ?? "");
      if (!this.roles.has(id)) throw apiError(404, "The role does not exist.", "inexistent_role");
      const members = [...this.users.values()].filter((u) => u.roles.has(id));
      return [200, listRoleUsers(members, q, (items, qs, name) => this.page(items, qs, name))];
    }
    if ((m = /^\/roles\/([^/]+)\/users$/.exec(path)) && method === "POST") return [200, this.assignRoleUsers(decodeURIComponent(m[1] ?? ""), parseJson(raw))];
    if (path === "/roles" && method === "GET") {
      const filter = q.get("name_filter")?.toLowerCase();
      const list = [...this.roles.values()].filter((r) => !filter || r.name.toLowerCase().includes(filter));
      return [200, this.page(list, q, "roles")];
    }
    if (path === "/tickets/password-change" && method === "POST") return [201, this.passwordTicket(parseJson(raw))];
    if (path === "/logs" && method === "GET") return this.readLogs(q, grant);
    const org = this.orgs.route(method, path, q, () => parseJson(raw));
    if (org) return org;
    throw apiError(404, "Not Found");
  }

  private page<T>(items: T[], q: URLSearchParams, name: string): unknown {
    const perPage = Math.min(Math.max(Number(q.get("per_page") ?? 50), 1), 100);
    const page = Math.max(Number(q.get("page") ?? 0), 0);
    const slice = items.slice(page * perPage, page * perPage + perPage);
    if (q.get("include_totals") === "true") return { [name]: slice, start: page * perPage, limit: perPage, total: items.length };
    return slice;
  }

  private mustGet(id: string): StoredUser {
    const user = this.users.get(id);
    if (!user) throw apiError(404, "The user does not exist.", "inexistent_user");
    return user;
  }

  private view(u: StoredUser): JsonObject {
    const out: JsonObject = {
      user_id: u.user_id,
      email_verified: u.email_verified,
      identities: [
        { connection: u.connection, provider: u.connection === DEFAULT_CONNECTION || this.connections.get(u.connection)?.strategy === "auth0" ? "auth0" : "email", user_id: u.user_id.split("|")[1] ?? u.user_id, isSocial: false },
        ...(u.linkedIdentities ?? []).map((i) => ({ ...i })),
      ],
      user_metadata: structuredClone(u.user_metadata),
      app_metadata: structuredClone(u.app_metadata),
      created_at: u.created_at,
      updated_at: u.updated_at,
    };
    for (const k of ["email", "given_name", "family_name", "name", "nickname", "picture", "phone_number", "username", "blocked", "phone_verified"] as const) {
      const v = u[k];
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  private validate(body: JsonObject, allowed: Set<string>, forPatch: boolean): void {
    const extra = Object.keys(body).filter((k) => !allowed.has(k));
    if (extra.length > 0) throw invalidBody(`Additional properties not allowed: ${extra.join(",")}`);
    for (const [k, v] of Object.entries(body)) {
      if (BOOLEAN_PROPS.has(k)) {
        if (typeof v !== "boolean") throw invalidBody(`Expected type boolean but found type ${typeName(v)}`, k);
        continue;
      }
      if (k === "user_metadata" || k === "app_metadata") {
        if (v === null || typeof v !== "object" || Array.isArray(v)) throw invalidBody(`Expected type object but found type ${typeName(v)}`, k);
        checkMetadataKeys(v, k);
        if (k === "app_metadata") {
          const reserved = Object.keys(v).filter((key) => RESERVED_APP_METADATA.has(key));
          if (reserved.length > 0) throw apiError(400, `app_metadata may not contain reserved keys: ${reserved.join(", ")}`, "invalid_body");
        }
        continue;
      }
      if (v === null && forPatch && k !== "connection" && k !== "client_id") continue;
      if (typeof v !== "string") throw invalidBody(`Expected type string but found type ${typeName(v)}`, k);
      const limits = STRING_LIMITS[k];
      if (limits && ([...v].length < limits[0] || [...v].length > limits[1])) {
        throw invalidBody(`String is too ${[...v].length < limits[0] ? "short" : "long"} (${[...v].length} chars), limits ${limits[0]}-${limits[1]}`, k);
      }
      if (k === "email" && !EMAIL_RE.test(v)) throw invalidBody(`Object didn't pass validation for format email: ${v}`, "email");
      if (k === "phone_number" && !/^\+[0-9]{1,15}$/.test(v)) throw invalidBody(`String does not match pattern ^\\+[0-9]{1,15}$`, "phone_number");
      if (k === "picture") {
        try {
          new URL(v);
        } catch {
          throw invalidBody(`Object didn't pass validation for format uri: ${v}`, "picture");
        }
      }
    }
  }

  private createUser(body: JsonObject): JsonObject {
    this.validate(body, CREATE_PROPS, false);
    if (typeof body.connection !== "string") throw invalidBody("Missing required property: connection");
    const conn = this.connections.get(body.connection);
    if (!conn) throw apiError(400, "The connection does not exist.", "inexistent_connection");
    if (typeof body.email !== "string") throw invalidBody("Missing required property: email");
    if (conn.strategy === "auth0") {
      if (typeof body.password !== "string") throw invalidBody("Missing required property: password");
      if (body.password.length < 8) throw apiError(400, "PasswordStrengthError: Password is too weak", "invalid_body");
    } else if (body.password !== undefined) {
      throw apiError(400, "Passwords are not supported by this connection", "invalid_body");
    }
    if (conn.requiresUsername && typeof body.username !== "string") throw invalidBody("Missing required property: username");
    if (!conn.requiresUsername && body.username !== undefined) throw apiError(400, "Cannot set username for connection without requires_username", "invalid_body");
    const email = body.email.toLowerCase();
    const idxKey = `${conn.name}\u0000${email}`;
    if (this.byConnectionEmail.has(idxKey)) throw apiError(409, "The user already exists.", "auth0_idp_error");
    const now = new Date().toISOString();
    const provider = conn.strategy === "auth0" ? "auth0" : "email";
    const userId = typeof body.user_id === "string" ? `${provider}|${body.user_id}` : `${provider}|${randomBytes(12).toString("hex")}`;
    if (this.users.has(userId)) throw apiError(409, "The user already exists.", "auth0_idp_error");
    const user: StoredUser = {
      user_id: userId,
      connection: conn.name,
      email,
      email_verified: body.email_verified === true,
      user_metadata: (body.user_metadata as JsonObject | undefined) ?? {},
      app_metadata: (body.app_metadata as JsonObject | undefined) ?? {},
      created_at: now,
      updated_at: now,
      passwordHash: typeof body.password === "string" ? (this.capturedPasswords?.push(body.password), createHash("sha256").update(body.password).digest("hex")) : undefined,
      roles: new Set(),
    };
    for (const k of ["given_name", "family_name", "name", "nickname", "picture", "phone_number", "username"] as const) {
      const v = body[k];
      if (typeof v === "string") user[k] = v;
    }
    if (typeof body.blocked === "boolean") user.blocked = body.blocked;
    if (typeof body.phone_verified === "boolean") user.phone_verified = body.phone_verified;
    this.checkSize(user);
    const verify = body.verify_email !== false && !user.email_verified;
    this.journal({ op: "user", user: this.tenantUser(user) }, ...(verify ? [{ op: "verify" as const, i: this.verificationEmails.length, user_id: userId }] : []));
    this.users.set(userId, user);
    this.byConnectionEmail.set(idxKey, userId);
    if (verify) this.verificationEmails.push(userId);
    return this.view(user);
  }

  /** What import jobs read and write: users go in through the same journal as created and patched ones. */
  private importTarget(): ImportTarget {
    return {
      connection: (id) => [...this.connections.values()].find((c) => connectionIdOf(c.name) === id),
      userIdByEmail: (connection, email) => this.byConnectionEmail.get(`${connection}\u0000${email}`),
      userIdByUsername: (connection, username) => [...this.users.values()].find((u) => u.connection === connection && u.username === username)?.user_id,
      hasUser: (id) => this.users.has(id),
      insert: (connection, userId, email, profile) => this.insertImported(connection, userId, email, profile),
      upsert: (userId, fields) => this.upsertImported(userId, fields),
    };
  }

  /**
   * A user an import job inserts: stored like a created one, but past POST /users' rules (an imported user needs
   * no password: without a hash in the file it has none until reset) and with no verification email.
   */
  private insertImported(connection: string, userId: string, email: string, profile: ImportedProfile): void {
    const { passwordHash, app_metadata, user_metadata, ...fields } = profile;
    const now = new Date().toISOString();
    const user: StoredUser = { user_id: userId, connection, email, ...fields, user_metadata: user_metadata ?? {}, app_metadata: app_metadata ?? {}, created_at: now, updated_at: now, passwordHash, roles: new Set() };
    this.journal({ op: "user", user: this.tenantUser(user) });
    this.users.set(userId, user);
    this.byConnectionEmail.set(`${connection}\u0000${email}`, userId);
  }

  /** An import's upsert: the upsertable fields given replace the stored ones (metadata whole, not merged). */
  private upsertImported(userId: string, fields: UpsertedFields): void {
    const user = this.mustGet(userId);
    const { passwordHash, ...rest } = fields;
    const next: StoredUser = { ...user, ...rest, ...(passwordHash !== undefined ? { passwordHash } : {}), updated_at: new Date().toISOString() };
    this.journal({ op: "user", user: this.tenantUser(next) });
    this.users.set(userId, next);
  }

  private patchUser(id: string, body: JsonObject): JsonObject {
    const user = this.mustGet(id);
    this.validate(body, PATCH_PROPS, true);
    const exclusive = ["email", "password", "username"].filter((k) => body[k] !== undefined);
    if (exclusive.length > 1) {
      throw apiError(400, `Cannot update ${exclusive.join(" and ")} simultaneously`, "invalid_body");
    }
    const next: StoredUser = { ...user, user_metadata: { ...user.user_metadata }, app_metadata: { ...user.app_metadata } };
    let newEmail: string | undefined;
    for (const [k, v] of Object.entries(body)) {
      if (k === "connection" || k === "client_id" || k === "verify_email" || k === "verify_phone_number") continue;
      if (k === "password") {
        next.passwordHash = createHash("sha256").update(v as string).digest("hex"); // validate() checked the type
        continue;
      }
      if (k === "user_metadata" || k === "app_metadata") {
        const patch = v as JsonObject;
        if (Object.keys(patch).length === 0) {
          next[k] = {};
          continue;
        }
        for (const [mk, mv] of Object.entries(patch)) {
          if (mv === null) delete next[k][mk];
          else next[k][mk] = mv;
        }
        continue;
      }
      if (k === "email") {
        if (v === null) throw invalidBody("Expected type string but found type null", "email");
        newEmail = (v as string).toLowerCase(); // validate() checked the type
        const other = this.byConnectionEmail.get(`${user.connection}\u0000${newEmail}`);
        if (other && other !== id) throw apiError(400, "The specified new email already exists", "email_conflict");
        next.email = newEmail;
        if (body.email_verified === undefined) next.email_verified = false;
        continue;
      }
      const rec = next as unknown as Record<string, unknown>;
      if (v === null) delete rec[k];
      else rec[k] = v;
    }
    this.checkSize(next);
    next.updated_at = new Date().toISOString();
    this.journal({ op: "user", user: this.tenantUser(next) });
    if (newEmail !== undefined && newEmail !== user.email) {
      if (user.email) this.byConnectionEmail.delete(`${user.connection}\u0000${user.email}`);
      this.byConnectionEmail.set(`${user.connection}\u0000${newEmail}`, id);
    }
    this.users.set(id, next);
    return this.view(next);
  }

  private checkSize(u: StoredUser): void {
    const size = Buffer.byteLength(JSON.stringify(this.view(u)), "utf8");
    if (size > PROFILE_LIMIT) throw apiError(400, `Payload validation error: 'User profile is ${size} bytes, larger than the 10 KB limit'.`, "invalid_body");
  }

  private deleteUser(id: string): undefined {
    const user = this.users.get(id);
    if (user) {
      this.journal({ op: "delete", user_id: id });
      this.users.delete(id);
      // Auth0 ends a deleted user's organization memberships; replaying the record above does the same.
      this.orgs.removeUser(id);
      if (user.email) this.byConnectionEmail.delete(`${user.connection}\u0000${user.email}`);
    }
    return undefined;
  }

  private usersByEmail(email: string | null): JsonObject[] {
    if (!email) throw invalidBody("Missing required property: email");
    // Exact and case-sensitive on the stored (lower-cased) email, across connections.
    return [...this.users.values()].filter((u) => u.email === email).map((u) => this.view(u));
  }

  private changeRoles(id: string, body: JsonObject, op: "add" | "remove"): undefined {
    const user = this.mustGet(id);
    const roles = body.roles;
    if (!Array.isArray(roles) || roles.length === 0 || roles.some((r) => typeof r !== "string")) {
      throw invalidBody("Missing required property: roles");
    }
    for (const r of roles as string[]) if (!this.roles.has(r)) throw apiError(404, "The role does not exist.", "inexistent_role");
    const next = new Set(user.roles);
    for (const r of roles as string[]) {
      if (op === "add") next.add(r);
      else next.delete(r);
    }
    if (next.size > MAX_ROLES_PER_USER) throw tooManyRoles();
    if (next.size !== user.roles.size || [...next].some((r) => !user.roles.has(r))) this.journal({ op: "user", user: this.tenantUser(user, next) });
    user.roles = next;
    return undefined;
  }

  /**
   * Auth0's "Assign users to a role" (https://auth0.com/docs/api/management/v2/roles/post-role-users): 200, no
   * content. All or nothing: an unknown user or one past the role limit fails the call before anything changes.
   */
  private assignRoleUsers(roleId: string, body: JsonObject): undefined {
    const extra = Object.keys(body).filter((k) => k !== "users");
    if (extra.length > 0) throw invalidBody(`Additional properties not allowed: ${extra.join(",")}`);
    const ids = body.users;
    if (ids === undefined) throw invalidBody("Missing required property: users");
    if (!Array.isArray(ids)) throw invalidBody(`Expected type array but found type ${typeName(ids)}`, "users");
    if (ids.length === 0) throw invalidBody("Array is too short (0), minimum 1", "users");
    const bad = ids.findIndex((u) => typeof u !== "string");
    if (bad >= 0) throw invalidBody(`Expected type string but found type ${typeName(ids[bad])}`, `users[${bad}]`);
    const max = this.options.maxRoleUsersPerRequest;
    if (max !== undefined && ids.length > max) throw invalidBody(`Too many items (${ids.length}), maximum ${max}`, "users");
    if (!this.roles.has(roleId)) throw apiError(404, "The role does not exist.", "inexistent_role");
    const users = [...new Set(ids as string[])].map((id) => this.mustGet(id));
    const changed = users.filter((u) => !u.roles.has(roleId));
    if (changed.some((u) => u.roles.size >= MAX_ROLES_PER_USER)) throw tooManyRoles();
    if (changed.length > 0) this.journal(...changed.map((u) => ({ op: "user" as const, user: this.tenantUser(u, new Set([...u.roles, roleId])) })));
    for (const u of changed) u.roles.add(roleId);
    return undefined;
  }

  private passwordTicket(body: JsonObject): JsonObject {
    const allowed = new Set(["user_id", "result_url", "ttl_sec", "mark_email_as_verified", "includeEmailInRedirect", "client_id", "organization_id", "connection_id", "email"]);
    const extra = Object.keys(body).filter((k) => !allowed.has(k));
    if (extra.length > 0) throw invalidBody(`Additional properties not allowed: ${extra.join(",")}`);
    if (typeof body.user_id !== "string") throw invalidBody("Missing required property: user_id");
    this.mustGet(body.user_id);
    const ticket = {
      user_id: body.user_id,
      result_url: typeof body.result_url === "string" ? body.result_url : undefined,
      ttl_sec: typeof body.ttl_sec === "number" ? body.ttl_sec : undefined,
    };
    this.journal({ op: "ticket", i: this.tickets.length, ticket });
    this.tickets.push(ticket);
    return { ticket: `https://${this.domain}/lo/reset?ticket=${randomBytes(16).toString("hex")}#` };
  }
}

function isTenantUser(u: unknown): u is TenantUser {
  const v = u as TenantUser | null | undefined;
  return typeof v?.user_id === "string" && typeof v.connection === "string" && Array.isArray(v.roles) && v.roles.every((r) => typeof r === "string");
}

function isTenantState(s: unknown): s is TenantState {
  const v = s as TenantState | null | undefined;
  return (
    Array.isArray(v?.users) &&
    v.users.every(isTenantUser) &&
    Array.isArray(v.roles) &&
    v.roles.every((r) => typeof r?.id === "string" && typeof r.name === "string") &&
    Array.isArray(v.tickets) &&
    (v.verificationEmails === undefined || Array.isArray(v.verificationEmails)) &&
    (v.organizations === undefined || (Array.isArray(v.organizations) && v.organizations.every(isTenantOrganization)))
  );
}

function checkMetadataKeys(o: JsonObject, path: string): void {
  for (const [k, v] of Object.entries(o)) {
    if (k.includes(".") || k.includes("$")) throw apiError(400, `Payload validation error: '${path} keys may not contain '.' or '$' (${k})'.`, "invalid_body");
    if (v && typeof v === "object" && !Array.isArray(v)) checkMetadataKeys(v, `${path}.${k}`);
  }
}

function parseJson(raw: string): JsonObject {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as JsonObject;
  } catch {
    throw invalidBody("Invalid JSON body");
  }
}

/** A Management API request on its way to the tenant log. */
interface Operation {
  method: string;
  url: URL;
  route: string;
  grant: TokenGrant;
  req: IncomingMessage;
  bytes: Buffer;
  contentType: string;
}

/** The body a log entry shows: the JSON sent, or an import's form fields without the users file; secrets redacted. */
function loggedBody(op: Operation): Json {
  if (op.contentType.startsWith("multipart/form-data")) {
    const parts = parseMultipart(op.bytes, op.contentType);
    const fields = [...(parts ?? new Map<string, Buffer>())].filter(([name]) => name !== "users").map(([name, v]) => [name, v.toString("utf8")]);
    return redactSecrets(Object.fromEntries(fields) as JsonObject);
  }
  if (op.bytes.length === 0) return null;
  try {
    return redactSecrets(JSON.parse(op.bytes.toString("utf8")) as Json);
  } catch {
    return null;
  }
}

/** The token of an `Authorization: Bearer` header ("" without one). */
const bearerOf = (header: string | undefined): string => /^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "";

/** The parameters of a token request, JSON or form-encoded as Auth0 accepts both. */
function tokenParams(contentType: string, raw: string): Record<string, string | undefined> {
  if (!contentType.includes("application/json")) return Object.fromEntries(new URLSearchParams(raw));
  try {
    const v = JSON.parse(raw || "{}") as unknown;
    return v !== null && typeof v === "object" ? (v as Record<string, string>) : {};
  } catch {
    throw new HttpError(400, { error: "invalid_request", error_description: "The request body is not valid JSON" });
  }
}

const MAX_BODY = 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(apiError(413, "Payload too large: the limit is 1 MB", "payload_too_large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
