/**
 * The tenant log of the Auth0 emulator, so that a feature reacting to other clients' writes (an admin editing a user
 * in the Dashboard, another API client) can be tested locally. Built from Auth0's documentation:
 *
 * - Entries follow Auth0's log event schemas (https://github.com/auth0/auth0-log-schemas,
 *   schemas/log-types/sapi.schema.json): `sapi` "Successful API Operation. Only emitted by the Management API on POST,
 *   DELETE, PATCH, and PUT"; `fapi` "Failed API Operation" (https://auth0.com/docs/deploy-monitor/logs/log-event-type-codes).
 *   `user_id` is the user executing the action, "for machine to machine auth flows ... an empty string".
 * - `GET /api/v2/logs` (https://auth0.com/docs/deploy-monitor/logs/retrieve-log-events-using-mgmt-api and the API
 *   reference, https://auth0.com/docs/api/management/v2/logs/get-logs): by checkpoint (`from`, `take`: "any parameter
 *   other than from and take will be ignored", ordered by log_id, unbounded, the next page in a `Link` header whose
 *   `next` repeats the request when nothing is newer) or by search (`q`, `page`, `per_page`, `sort`, `fields`,
 *   `include_fields`, `include_totals`; at most 100 a request and 1,000 results in all). `take` and `per_page`:
 *   "Default 50, max 100" (Auth0's OpenAPI, as the v4 SDK's GetLogsRequest carries it); above that the emulator
 *   answers 400 as Auth0's schema validation does for other maximums.
 *
 * The log lives in memory only: Auth0 keeps logs for days whatever a client does, and a fresh emulator process
 * starting with an empty log is what a reader sees after the retention period; its log_ids start from the clock, so
 * a checkpoint from an earlier process still sorts before every new entry.
 */
import { apiError, invalidQuery, type Json, type JsonObject } from "./auth0-emulator-http.js";
import { intParam } from "./auth0-emulator-paging.js";
import { OFFSET_PAGING_LIMIT } from "./auth0-emulator-role-users.js";

/** `details.request.channel` of an edit made in the Auth0 Dashboard, and of a call by an API client. */
export const DASHBOARD_CHANNEL = "https://manage.auth0.com/";
export const API_CHANNEL = "api";

/** How many entries the log keeps by default; older ones drop off, like logs past Auth0's retention. */
export const DEFAULT_LOG_CAPACITY = 100_000;

const MAX_PER_REQUEST = 100;
const DEFAULT_PER_REQUEST = 50;
const REDACTED = "[redacted]";
/** Keys whose values never reach the log (Auth0 logs no credentials: https://auth0.com/docs/deploy-monitor/logs/pii-in-logs). */
const SECRET_KEYS = new Set(["password", "password_hash", "custom_password_hash", "client_secret"]);

/** Who made a request, as `details.request.auth` shows it: the admin for a Dashboard edit, nobody for an API client. */
export interface TenantLogAuth {
  user: { user_id: string; name: string; email: string } | Record<string, never>;
  strategy: "jwt";
  /** The token's id; an API client's token also carries its scopes. */
  credentials: { jti: string; scopes?: string[] };
}

/** One tenant log entry, with Auth0's field names. */
export interface TenantLogEntry {
  /** 56 digits, strictly increasing in arrival order (Auth0's are 56-digit numeric strings too). */
  log_id: string;
  /** ISO 8601. */
  date: string;
  type: "sapi" | "fapi";
  /** The operation's name in the API reference ("Update a User"); for a failure, what went wrong. */
  description: string;
  client_id: string;
  client_name: string;
  ip: string;
  user_agent?: string;
  /** The admin's user_id for a Dashboard edit; "" for an API client. */
  user_id: string;
  tenant_name: string;
  details: {
    request: {
      /** Lower case, as Auth0's sapi entries show it ("post"). */
      method: string;
      /** As requested, URL-decoded: `/api/v2/users/auth0|abc/roles`. */
      path: string;
      query: Record<string, string>;
      /** The JSON body, secrets redacted; a multipart import without its users file; null without a body. */
      body: Json;
      channel: string;
      ip: string;
      userAgent?: string;
      auth: TenantLogAuth;
    };
    response: { statusCode: number; body?: Json };
  };
}

export type NewTenantLogEntry = Omit<TenantLogEntry, "log_id" | "date">;

/**
 * The names Auth0's Management API reference gives the operations the emulator serves; Auth0 uses them as a sapi
 * entry's description (its "Create a role", "Create invitations to organization").
 */
const DESCRIPTIONS: Record<string, string> = {
  "POST /api/v2/users": "Create a User",
  "PATCH /api/v2/users/:id": "Update a User",
  "DELETE /api/v2/users/:id": "Delete a User",
  "POST /api/v2/users/:id/roles": "Assign roles to a user",
  "DELETE /api/v2/users/:id/roles": "Removes roles from a user",
  "POST /api/v2/roles/:id/users": "Assign users to a role",
  "POST /api/v2/jobs/users-exports": "Create export users job",
  "POST /api/v2/jobs/users-imports": "Create import users job",
  "POST /api/v2/tickets/password-change": "Create a password change ticket",
  "POST /api/v2/organizations/:id/members": "Add members to an organization",
  "DELETE /api/v2/organizations/:id/members": "Delete members from an organization",
  "POST /api/v2/organizations/:id/members/:id/roles": "Assign user roles to an Organization member",
  "DELETE /api/v2/organizations/:id/members/:id/roles": "Delete user roles from an Organization member",
};

/** A successful operation's description, by its route template. */
export const describeOperation = (method: string, route: string): string => DESCRIPTIONS[`${method.toUpperCase()} ${route}`] ?? `${method.toUpperCase()} ${route}`;

/** Whether a request is one Auth0 logs: the Management API writes (reads leave no sapi/fapi entry). */
export const isLoggedMethod = (method: string): boolean => ["POST", "PATCH", "PUT", "DELETE"].includes(method.toUpperCase());

/** A deep copy of a JSON value with every secret's value replaced, so no password is ever stored. */
export function redactSecrets(v: Json): Json {
  if (Array.isArray(v)) return v.map(redactSecrets);
  if (v === null || typeof v !== "object") return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEYS.has(k) ? REDACTED : redactSecrets(x);
  return out;
}

/** What the log keeps of each entry: the sort keys, and the entry as text (about a third of an object's heap). */
interface Stored {
  log_id: string;
  date: string;
  text: string;
}

export class TenantLog {
  private stored: Stored[] = [];
  private seq = 0;
  private lastStamp = "";
  private readonly listeners = new Set<(entry: TenantLogEntry) => void>();

  constructor(readonly capacity = DEFAULT_LOG_CAPACITY) {}

  get size(): number {
    return this.stored.length;
  }

  /** Adds an entry (its log_id and date assigned now), delivers it to every listener, and returns it. */
  append(entry: NewTenantLogEntry, now = Date.now()): TenantLogEntry {
    const full: TenantLogEntry = { log_id: this.nextId(now), date: new Date(now).toISOString(), ...entry };
    const text = JSON.stringify(full);
    if (this.capacity > 0) {
      this.stored.push({ log_id: full.log_id, date: full.date, text });
      if (this.stored.length > this.capacity) this.stored.splice(0, this.stored.length - this.capacity);
    }
    // Synchronously, in append order; each listener gets its own copy, and one that throws harms no request.
    for (const listener of [...this.listeners]) {
      try {
        listener(JSON.parse(text) as TenantLogEntry);
      } catch (err) {
        process.emitWarning(`tenant log listener failed: ${(err as Error).message}`);
      }
    }
    return JSON.parse(text) as TenantLogEntry;
  }

  /** Calls `listener` with each entry appended from now on; returns the function that stops it. */
  subscribe(listener: (entry: TenantLogEntry) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Every entry kept, oldest first (copies). */
  entries(): TenantLogEntry[] {
    return this.stored.map((s) => JSON.parse(s.text) as TenantLogEntry);
  }

  clear(): void {
    this.stored = [];
  }

  /**
   * `GET /api/v2/logs`: the answer's body, and in checkpoint mode the query of the `next` link (the request's own
   * `from` when nothing is newer, as Auth0 documents).
   */
  query(q: URLSearchParams): { body: unknown; next?: URLSearchParams } {
    const from = q.get("from");
    if (from !== null) {
      const take = intParam(q, "take", 1, MAX_PER_REQUEST, DEFAULT_PER_REQUEST);
      const start = this.firstAfter(from);
      const page = this.stored.slice(start, start + take).map((s) => JSON.parse(s.text) as JsonObject);
      const last = page.length > 0 ? (page[page.length - 1]?.log_id as string) : from;
      return { body: page, next: new URLSearchParams({ from: last, take: String(take) }) };
    }
    return { body: this.search(q) };
  }

  /** Search mode: filter (`q`), sort, one page of at most 100, at most 1,000 results reachable. */
  private search(q: URLSearchParams): unknown {
    const perPage = intParam(q, "per_page", 1, MAX_PER_REQUEST, DEFAULT_PER_REQUEST);
    const page = intParam(q, "page", 0, Number.MAX_SAFE_INTEGER, 0);
    if ((page + 1) * perPage > OFFSET_PAGING_LIMIT) {
      throw apiError(400, `You can only page through the first ${OFFSET_PAGING_LIMIT} records. Refine your search or use the checkpoint pagination method (from, take).`, "invalid_paging");
    }
    const [field, dir] = sortOf(q.get("sort"));
    const filter = parseQuery(q.get("q") ?? "");
    let list = this.stored.map((s) => JSON.parse(s.text) as JsonObject).filter(filter);
    // Arrival order breaks ties (log_id), so a page is stable between calls.
    list = list.sort((a, b) => dir * (compare(a[field], b[field]) || compare(a.log_id, b.log_id)));
    const slice = list.slice(page * perPage, page * perPage + perPage).map((e) => project(e, q));
    if (q.get("include_totals") === "true") return { start: page * perPage, limit: perPage, length: slice.length, total: list.length, logs: slice };
    return slice;
  }

  /** Fixed width: "900", 17 digits of time (never going back), 36 of sequence; so string order is arrival order. */
  private nextId(now: number): string {
    const d = new Date(now);
    const p = (n: number, w = 2) => String(n).padStart(w, "0");
    const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}`;
    if (stamp > this.lastStamp) this.lastStamp = stamp;
    return `900${this.lastStamp}${String(++this.seq).padStart(36, "0")}`;
  }

  /** Index of the first entry whose log_id sorts after `from` (entries are in log_id order). */
  private firstAfter(from: string): number {
    let [lo, hi] = [0, this.stored.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.stored[mid]?.log_id ?? "") <= from) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function compare(a: Json | undefined, b: Json | undefined): number {
  // Sortable fields are strings (SORTABLE); anything else compares as absent.
  const [x, y] = [typeof a === "string" ? a : "", typeof b === "string" ? b : ""];
  return x < y ? -1 : x > y ? 1 : 0;
}

const SORTABLE = new Set(["date", "log_id", "type", "client_id", "client_name", "user_id", "description"]);

/** `field:1` ascending or `field:-1` descending; by default newest first. */
function sortOf(raw: string | null): [string, number] {
  if (raw === null || raw === "") return ["date", -1];
  const m = /^([a-z_]+):(1|-1)$/.exec(raw);
  if (!m?.[1] || !SORTABLE.has(m[1])) throw invalidQuery(`String does not match pattern ^(${[...SORTABLE].join("|")}):(1|-1)$`, "sort");
  return [m[1], Number(m[2])];
}

/**
 * The emulator's subset of Auth0's Lucene query syntax (https://auth0.com/docs/deploy-monitor/logs/log-search-query-syntax):
 * `field:value` or `field:"value"` terms (a dotted path for nested fields, `details.request.channel`), joined by
 * spaces or AND; a value ending in `*` matches as a prefix; case-insensitive. Anything else is refused with a 400.
 */
function parseQuery(q: string): (e: JsonObject) => boolean {
  const terms = [...q.matchAll(/\s*([^\s:]+):("([^"]*)"|\S+)|\s*(\S+)/g)].filter((m) => m[4] !== "AND");
  const tests = terms.map((m) => {
    if (m[4] !== undefined || m[1] === undefined || m[2] === undefined) throw invalidQuery(`The emulator supports only field:value terms joined by AND, not ${m[0].trim()}`, "q");
    const value = (m[3] ?? m[2]).toLowerCase();
    const path = m[1].split(".");
    return (e: JsonObject) => {
      let v: Json | undefined = e;
      for (const k of path) v = v !== null && typeof v === "object" && !Array.isArray(v) ? v[k] : undefined;
      const text = typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v).toLowerCase() : "";
      return value.endsWith("*") && m[3] === undefined ? text.startsWith(value.slice(0, -1)) : text === value;
    };
  });
  return (e) => tests.every((t) => t(e));
}

/** `fields` (comma list) kept, or with `include_fields=false` left out. */
function project(e: JsonObject, q: URLSearchParams): JsonObject {
  const fields = (q.get("fields") ?? "").split(",").map((f) => f.trim()).filter(Boolean);
  if (fields.length === 0) return e;
  const include = q.get("include_fields") !== "false";
  return Object.fromEntries(Object.entries(e).filter(([k]) => fields.includes(k) === include));
}
