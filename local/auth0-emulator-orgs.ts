/**
 * Organizations of the Auth0 emulator, built from Auth0's documentation: the Management API reference
 * (https://auth0.com/docs/api/management/v2/organizations/...) and the "Configure Organizations" guides
 * (https://auth0.com/docs/manage-users/organizations/configure-organizations/...), whose response status tables
 * list each endpoint's answers. What the emulator serves:
 *
 * - `GET /organizations/name/{name}` and `GET /organizations/{id}`: `{id, name, display_name}`, 404 when absent.
 * - `POST` / `DELETE /organizations/{id}/members` `{"members": [user ids]}` (1..10 ids), 204.
 * - `GET /organizations/{id}/members`: `{user_id, email, name, picture}` (and `roles` on `fields=roles`), offset
 *   paging capped at 1,000 results or checkpoint paging (`from`, `take`, `next`).
 * - `POST` / `DELETE` / `GET /organizations/{id}/members/{user_id}/roles` `{"roles": [role ids]}`: the member's
 *   roles in this organization only (at most 50), 204 / 204 / 200.
 * - `GET /users/{id}/organizations`: the user's organizations, offset paging.
 *
 * Where the documentation is silent, the emulator follows Auth0's general conventions (a 400 `invalid_body`
 * "Payload validation error: ..." for a body that breaks the schema; a 404 naming the absent resource) and says so
 * where it does. Every write is all or nothing, and reaches the tenant journal (a whole organization per record)
 * before it is answered.
 */
import { randomBytes } from "node:crypto";
import { apiError, type HttpError, invalidBody, invalidQuery, type JsonObject, typeName } from "./auth0-emulator-http.js";
import { checkpointPage, intParam, wantsCheckpoint } from "./auth0-emulator-paging.js";
import { OFFSET_PAGING_LIMIT } from "./auth0-emulator-role-users.js";

/**
 * Most user ids one add (or remove) of members may list: "You can send a maximum of 10 members per organization per
 * request" (https://auth0.com/docs/manage-users/organizations/configure-organizations/assign-members). The reference's
 * schema has no maxItems, so the wording of the 400 is the emulator's (JSON schema's maxItems message). Auth0 states
 * the limit for adding only; the emulator holds removals to it as well, the cautious reading: a client that keeps to
 * it works whichever way Auth0 enforces it.
 */
export const MAX_MEMBERS_PER_REQUEST = 10;

/**
 * Most roles one member may have in one organization: "Maximum of 50 roles per member"
 * (https://auth0.com/docs/manage-users/organizations/configure-organizations/add-member-roles).
 */
export const MAX_ROLES_PER_MEMBER = 50;

/** An organization as `state()` and the journal show it: member roles by name, like users' roles. */
export interface TenantOrganization {
  id: string;
  name: string;
  display_name?: string;
  members: { user_id: string; roles: string[] }[];
}

/** The journal record of a write to an organization: the organization whole, so replaying it twice changes nothing. */
export interface OrgJournalRecord {
  op: "org";
  org: TenantOrganization;
}

interface Role {
  id: string;
  name: string;
  description: string;
}

/** What the organizations need from the rest of the tenant. */
export interface OrgTenant {
  /** A user of the tenant, as a member listing shows it; undefined when there is none by that id. */
  user(id: string): { user_id: string; email?: string; name?: string; picture?: string } | undefined;
  roleById(id: string): Role | undefined;
  roleByName(name: string): Role | undefined;
  /** Makes sure a role by that name exists (restoring a state names roles, as users' roles do). */
  ensureRole(name: string): void;
  /** Appends a record to the tenant journal (when the tenant is bound to a state file). */
  journal(rec: OrgJournalRecord): void;
}

interface StoredOrg {
  id: string;
  name: string;
  display_name?: string;
  /** Member user id -> the member's role names in this organization. */
  members: Map<string, Set<string>>;
}

// Auth0: "lowercase alphabetical characters, numbers, underscores (_), and dashes (-) ... between 1 and 50
// characters" (https://auth0.com/docs/manage-users/organizations/configure-organizations/create-organizations).
const ORG_NAME_RE = /^[a-z0-9_-]{1,50}$/;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** The fields a member listing may show (`roles` only when asked for). */
type MemberField = "user_id" | "email" | "picture" | "name" | "roles";
const FIELDS_RE = /^((user_id)|(email)|(picture)|(name)|(roles))(,((user_id)|(email)|(picture)|(name)|(roles)))*$/;

const byKey = <T>(key: (v: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

/**
 * An absent organization. The message is the one Auth0 answers (as its SDKs' integration tests record it); the
 * errorCode is not documented and follows Auth0's `inexistent_*` convention.
 */
const noOrganization = (): HttpError => apiError(404, "No organization found by that id or name", "inexistent_organization");

/** The same answer as the tenant's other role endpoints give for an unknown role id. */
const noRole = (): HttpError => apiError(404, "The role does not exist.", "inexistent_role");

/**
 * A member-roles call for a user who is not a member of the organization. Auth0 documents no answer for it; the
 * emulator takes the membership as the path's resource and answers 404 naming both (the errorCode follows the
 * `inexistent_*` convention).
 */
const notMember = (orgId: string, userId: string): HttpError => apiError(404, `The user ${userId} is not a member of the organization ${orgId}.`, "inexistent_member");

export class Organizations {
  private readonly orgs = new Map<string, StoredOrg>();

  constructor(private readonly tenant: OrgTenant) {}

  /**
   * Creates an organization (`org_` and 16 letters or digits) and returns its id; a name that exists already returns
   * that organization's id, unchanged. Names follow Auth0's rule (1-50 of a-z, 0-9, _ and -).
   */
  add(name: string, displayName: string = name): string {
    const existing = this.byName(name);
    if (existing) return existing.id;
    if (!ORG_NAME_RE.test(name)) throw new RangeError(`invalid organization name ${JSON.stringify(name)}: Auth0 allows 1-50 lowercase letters, digits, _ and -`);
    if (displayName.length < 1 || displayName.length > 255) throw new RangeError("an organization's display name has 1-255 characters");
    let id: string;
    do id = `org_${[...randomBytes(16)].map((b) => ALNUM[b % ALNUM.length]).join("")}`;
    while (this.orgs.has(id));
    const org: StoredOrg = { id, name, display_name: displayName, members: new Map() };
    this.tenant.journal({ op: "org", org: this.record(org) });
    this.orgs.set(id, org);
    return id;
  }

  /** The answer to a Management API request (path without `/api/v2`), or undefined when it is not an organizations route. */
  route(method: string, path: string, q: URLSearchParams, body: () => JsonObject): [number, unknown] | undefined {
    let m: RegExpExecArray | null;
    const seg = (i: number) => decodeURIComponent(m?.[i] ?? "");
    // By name first: `/organizations/name/members` is the organization named "members", as Auth0 routes it.
    if ((m = /^\/organizations\/name\/([^/]+)$/.exec(path)) && method === "GET") {
      const org = this.byName(seg(1));
      if (!org) throw noOrganization();
      return [200, this.view(org)];
    }
    if ((m = /^\/organizations\/([^/]+)$/.exec(path)) && method === "GET") return [200, this.view(this.mustGet(seg(1)))];
    if ((m = /^\/organizations\/([^/]+)\/members$/.exec(path))) {
      if (method === "GET") return [200, this.listMembers(seg(1), q)];
      if (method === "POST") return [204, this.changeMembers(seg(1), body(), "add")];
      if (method === "DELETE") return [204, this.changeMembers(seg(1), body(), "remove")];
    }
    if ((m = /^\/organizations\/([^/]+)\/members\/([^/]+)\/roles$/.exec(path))) {
      if (method === "GET") return [200, this.listMemberRoles(seg(1), seg(2), q)];
      if (method === "POST") return [204, this.changeMemberRoles(seg(1), seg(2), body(), "add")];
      if (method === "DELETE") return [204, this.changeMemberRoles(seg(1), seg(2), body(), "remove")];
    }
    if ((m = /^\/users\/([^/]+)\/organizations$/.exec(path)) && method === "GET") return [200, this.userOrganizations(seg(1), q)];
    return undefined;
  }

  /**
   * Ends a deleted user's memberships (and member roles) everywhere. In memory only: the caller journals the user's
   * deletion, and replaying that record calls this again.
   */
  removeUser(userId: string): void {
    for (const org of this.orgs.values()) org.members.delete(userId);
  }

  /** Every organization, as `state()` shows them. */
  state(): TenantOrganization[] {
    return [...this.orgs.values()].map((o) => this.record(o));
  }

  /** One journal record per organization: the whole set, for a journal that must hold them. */
  records(): OrgJournalRecord[] {
    return this.state().map((org) => ({ op: "org", org }));
  }

  /** Replaces every organization with these (as `state()` gave them). */
  load(orgs: TenantOrganization[]): void {
    this.orgs.clear();
    for (const o of orgs) this.restore(o);
  }

  /** Drops memberships of users the tenant does not have (a state loaded without them). */
  pruneMembers(exists: (userId: string) => boolean): void {
    for (const org of this.orgs.values()) for (const id of [...org.members.keys()]) if (!exists(id)) org.members.delete(id);
  }

  /** Applies an `org` journal record; false when it is not a valid one. */
  apply(rec: OrgJournalRecord): boolean {
    if (!isTenantOrganization(rec.org)) return false;
    // Names are unique: one by the same name under another id (e.g. made anew by this process's constructor)
    // gives way, as roles do.
    for (const other of [...this.orgs.values()]) if (other.name === rec.org.name && other.id !== rec.org.id) this.orgs.delete(other.id);
    this.restore(rec.org);
    return true;
  }

  /** The user ids of an organization's members (for assertions). */
  members(orgName: string): string[] {
    return [...this.mustGetByName(orgName).members.keys()].sort();
  }

  /** A member's role names in an organization (for assertions); none for a non-member. */
  memberRoles(orgName: string, userId: string): string[] {
    return [...(this.mustGetByName(orgName).members.get(userId) ?? [])].sort();
  }

  // Requests.

  private changeMembers(orgId: string, body: JsonObject, op: "add" | "remove"): undefined {
    // The reference's schema allows additional properties on both bodies (additionalProperties: true).
    const ids = idList(body, "members", MAX_MEMBERS_PER_REQUEST);
    const org = this.mustGet(orgId);
    const next = new Map(org.members);
    if (op === "add") {
      // "the user must already exist in your tenant" (the reference). The answer is not documented: the only 400 the
      // guide lists is invalid_body ("The request payload is not valid"), so the emulator gives that, naming the ids.
      const unknown = ids.filter((id) => this.tenant.user(id) === undefined);
      if (unknown.length > 0) throw apiError(400, `The user${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} ${unknown.length > 1 ? "do" : "does"} not exist.`, "invalid_body");
      for (const id of ids) if (!next.has(id)) next.set(id, new Set());
    } else {
      // Removing a user who is not a member (or does not exist) changes nothing, and is no error.
      for (const id of ids) next.delete(id);
    }
    this.commit(org, next);
    return undefined;
  }

  private listMembers(orgId: string, q: URLSearchParams): unknown {
    const org = this.mustGet(orgId);
    const fields = memberFields(q);
    const rows = [...org.members.entries()].map(([id, roles]) => [id, this.memberView(id, roles, fields)] as const).sort(byKey(([id]) => id));
    if (wantsCheckpoint(q)) {
      const page = checkpointPage(rows, ([id]) => id, q, "members");
      return { ...page, members: (page.members as (typeof rows)[number][]).map(([, view]) => view) };
    }
    return offsetPage(
      rows.map(([, view]) => view),
      q,
      "members",
      true,
    );
  }

  private changeMemberRoles(orgId: string, userId: string, body: JsonObject, op: "add" | "remove"): undefined {
    // Unlike the members bodies, these do not allow additional properties (additionalProperties: false).
    const extra = Object.keys(body).filter((k) => k !== "roles");
    if (extra.length > 0) throw invalidBody(`Additional properties not allowed: ${extra.join(",")}`);
    const ids = idList(body, "roles");
    const org = this.mustGet(orgId);
    const current = org.members.get(userId);
    if (!current) throw notMember(orgId, userId);
    const names = ids.map((id) => this.tenant.roleById(id)?.name);
    if (names.some((n) => n === undefined)) throw noRole();
    const roles = new Set(current);
    for (const n of names as string[]) {
      if (op === "add") roles.add(n);
      else roles.delete(n);
    }
    // The reference's 409: "No more roles can be assigned to this organization member." (its errorCode is not
    // documented, so the body has none).
    if (op === "add" && roles.size > MAX_ROLES_PER_MEMBER && roles.size > current.size) throw apiError(409, "No more roles can be assigned to this organization member.");
    const next = new Map(org.members);
    next.set(userId, roles);
    this.commit(org, next);
    return undefined;
  }

  private listMemberRoles(orgId: string, userId: string, q: URLSearchParams): unknown {
    const org = this.mustGet(orgId);
    const roles = org.members.get(userId);
    if (!roles) throw notMember(orgId, userId);
    const list = [...roles]
      .map((n) => this.tenant.roleByName(n))
      .filter((r) => r !== undefined)
      .map((r) => ({ id: r.id, name: r.name, description: r.description }))
      .sort(byKey((r) => r.name));
    return offsetPage(list, q, "roles", false);
  }

  private userOrganizations(userId: string, q: URLSearchParams): unknown {
    // "404 | User not found" (https://auth0.com/docs/manage-users/organizations/configure-organizations/retrieve-user-membership);
    // the errorCode is the tenant's other user endpoints'.
    if (this.tenant.user(userId) === undefined) throw apiError(404, "User not found", "inexistent_user");
    const list = [...this.orgs.values()]
      .filter((o) => o.members.has(userId))
      .map((o) => this.view(o))
      .sort(byKey((o) => o.id as string));
    return offsetPage(list, q, "organizations", false);
  }

  // Storage.

  /** Journals the organization with its new members, then applies them: nothing when nothing changes. */
  private commit(org: StoredOrg, next: Map<string, Set<string>>): void {
    if (sameMembers(org.members, next)) return;
    this.tenant.journal({ op: "org", org: this.record({ ...org, members: next }) });
    org.members = next;
  }

  private restore(o: TenantOrganization): void {
    for (const m of o.members) for (const r of m.roles) this.tenant.ensureRole(r);
    this.orgs.set(o.id, {
      id: o.id,
      name: o.name,
      ...(o.display_name !== undefined ? { display_name: o.display_name } : {}),
      members: new Map(o.members.map((m) => [m.user_id, new Set(m.roles)] as const)),
    });
  }

  private record(o: StoredOrg): TenantOrganization {
    return {
      id: o.id,
      name: o.name,
      ...(o.display_name !== undefined ? { display_name: o.display_name } : {}),
      members: [...o.members.entries()].map(([user_id, roles]) => ({ user_id, roles: [...roles].sort() })),
    };
  }

  private view(o: StoredOrg): JsonObject {
    return { id: o.id, name: o.name, ...(o.display_name !== undefined ? { display_name: o.display_name } : {}) };
  }

  private memberView(userId: string, roles: Set<string>, fields: Set<MemberField>): JsonObject {
    const u = this.tenant.user(userId);
    const out: JsonObject = {};
    if (fields.has("user_id")) out.user_id = userId;
    for (const k of ["email", "picture", "name"] as const) {
      const v = u?.[k];
      if (fields.has(k) && v !== undefined) out[k] = v;
    }
    if (fields.has("roles")) {
      out.roles = [...roles]
        .map((n) => this.tenant.roleByName(n))
        .filter((r) => r !== undefined)
        .map((r) => ({ id: r.id, name: r.name }));
    }
    return out;
  }

  private byName(name: string): StoredOrg | undefined {
    return [...this.orgs.values()].find((o) => o.name === name);
  }

  private mustGet(id: string): StoredOrg {
    const org = this.orgs.get(id);
    if (!org) throw noOrganization();
    return org;
  }

  private mustGetByName(name: string): StoredOrg {
    const org = this.byName(name);
    if (!org) throw new Error(`no organization named ${name}`);
    return org;
  }
}

/** A body's list of ids (`members` or `roles`): required, an array of 1..max strings; the distinct ids. */
function idList(body: JsonObject, prop: "members" | "roles", max?: number): string[] {
  const v = body[prop];
  if (v === undefined) throw invalidBody(`Missing required property: ${prop}`);
  if (!Array.isArray(v)) throw invalidBody(`Expected type array but found type ${typeName(v)}`, prop);
  if (v.length === 0) throw invalidBody("Array is too short (0), minimum 1", prop);
  if (max !== undefined && v.length > max) throw invalidBody(`Array is too long (${v.length}), maximum ${max}`, prop);
  const bad = v.findIndex((x) => typeof x !== "string" || x === "");
  if (bad >= 0) {
    const x = v[bad];
    throw invalidBody(typeof x === "string" ? "String is too short (0 chars), minimum 1" : `Expected type string but found type ${typeName(x)}`, `${prop}[${bad}]`);
  }
  return [...new Set(v as string[])];
}

/** The member fields a listing shows: `fields` / `include_fields` as the reference defines them (roles only on request). */
function memberFields(q: URLSearchParams): Set<MemberField> {
  const defaults = new Set<MemberField>(["user_id", "email", "picture", "name"]);
  const raw = q.get("fields");
  if (raw === null || raw === "") return defaults;
  if (!FIELDS_RE.test(raw)) throw invalidQuery(`String does not match pattern ${FIELDS_RE.source}`, "fields");
  const listed = new Set(raw.split(",") as MemberField[]);
  if (boolParam(q, "include_fields", true)) return listed;
  return new Set([...defaults].filter((f) => !listed.has(f)));
}

function boolParam(q: URLSearchParams, name: string, def: boolean): boolean {
  const raw = q.get(name);
  if (raw === null || raw === "") return def;
  if (raw !== "true" && raw !== "false") throw invalidQuery("Expected type boolean but found type string", name);
  return raw === "true";
}

/**
 * Offset paging as these endpoints' reference defines it: `page` 0..1000, `per_page` 1..100 (default 50),
 * `include_totals` for `{start, limit, total, <name>}`; `capped`, the organization members listing's limit of
 * 1,000 results ("Requesting page exceeds the allowed maximum of 1000 records", invalid_paging).
 */
function offsetPage<T>(items: T[], q: URLSearchParams, name: string, capped: boolean): unknown {
  const perPage = intParam(q, "per_page", 1, 100, 50);
  const pageNo = intParam(q, "page", 0, 1000, 0);
  if (capped && (pageNo + 1) * perPage > OFFSET_PAGING_LIMIT) {
    throw apiError(
      400,
      `Requesting page ${pageNo} exceeds the allowed maximum of ${OFFSET_PAGING_LIMIT} records. To fetch results beyond ${OFFSET_PAGING_LIMIT}, use the checkpoint pagination method.`,
      "invalid_paging",
    );
  }
  const start = pageNo * perPage;
  const slice = items.slice(start, start + perPage);
  if (boolParam(q, "include_totals", false)) return { [name]: slice, start, limit: perPage, total: items.length };
  return slice;
}

function sameMembers(a: Map<string, Set<string>>, b: Map<string, Set<string>>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, roles] of a) {
    const other = b.get(id);
    if (!other || other.size !== roles.size || [...roles].some((r) => !other.has(r))) return false;
  }
  return true;
}

export function isTenantOrganization(o: unknown): o is TenantOrganization {
  const v = o as TenantOrganization | null | undefined;
  return (
    typeof v?.id === "string" &&
    typeof v.name === "string" &&
    (v.display_name === undefined || typeof v.display_name === "string") &&
    Array.isArray(v.members) &&
    v.members.every((m) => typeof m?.user_id === "string" && Array.isArray(m.roles) && m.roles.every((r) => typeof r === "string"))
  );
}
