/**
 * Decides the one operation that makes an Auth0 user match a desired profile, following Auth0's merge rules:
 * top-level fields replace (null clears), metadata merges at the first level (a null deletes a key, `{}`
 * would wipe the whole object and is never sent).
 */
import { PROFILE_FIELD_NAMES } from "./fields.js";
import { jsonEqual } from "./fingerprint.js";
import type { CreateBody, CurrentUser, DesiredProfile, JsonObject, Rejection, UserPatch } from "./types.js";

export type SyncMode = "insert" | "update" | "upsert";

export type Operation =
  | { kind: "create"; body: CreateBody }
  | { kind: "update"; userId: string; patch: UserPatch }
  | { kind: "none"; userId: string }
  | { kind: "reject"; rejection: Omit<Rejection, "row" | "keyLabel"> };

export interface PlanInput {
  desired: DesiredProfile;
  /** The Auth0 user as it is now, or null when none exists. */
  current: CurrentUser | null;
  mode: SyncMode;
  /** Metadata keys the sync wrote last time; those no longer desired are deleted (null) in the patch. */
  previouslyOwned?: { user_metadata?: string[]; app_metadata?: string[] };
}

/** The order of fields in create and patch bodies: the catalog's (core/fields.ts). */
const FIELD_ORDER = PROFILE_FIELD_NAMES;

export function createBody(desired: DesiredProfile): CreateBody {
  const body: CreateBody = { email: desired.email };
  for (const f of FIELD_ORDER) {
    const v = desired.fields[f];
    if (v === undefined || v === null) continue;
    (body as unknown as Record<string, unknown>)[f] = v;
  }
  const um = nonNull(desired.user_metadata);
  const am = nonNull(desired.app_metadata);
  if (Object.keys(um).length > 0) body.user_metadata = um;
  if (Object.keys(am).length > 0) body.app_metadata = am;
  return body;
}

function nonNull(o: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (v !== null) out[k] = v;
  return out;
}

function metadataPatch(
  desired: JsonObject,
  current: JsonObject | undefined,
  createOnly: Set<string>,
  prefix: string,
  previouslyOwned: string[] | undefined,
): JsonObject | undefined {
  const patch: JsonObject = {};
  const cur = current ?? {};
  for (const [k, d] of Object.entries(desired)) {
    if (createOnly.has(`${prefix}.${k}`)) continue;
    const has = Object.prototype.hasOwnProperty.call(cur, k);
    if (d === null) {
      if (has) patch[k] = null;
    } else if (!has || !jsonEqual(cur[k], d)) {
      patch[k] = d;
    }
  }
  for (const k of previouslyOwned ?? []) {
    if (!Object.prototype.hasOwnProperty.call(desired, k) && Object.prototype.hasOwnProperty.call(cur, k)) patch[k] = null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** The minimal patch: only what differs. Empty when the user already matches. */
export function diff(desired: DesiredProfile, current: CurrentUser, previouslyOwned?: PlanInput["previouslyOwned"]): UserPatch {
  const createOnly = new Set(desired.createOnly);
  const patch: UserPatch = {};
  const p = patch as Record<string, unknown>;
  if ((current.email ?? "").toLowerCase() !== desired.email) {
    patch.email = desired.email;
    // Auth0 resets email_verified on an email change unless it is sent with it.
    if (typeof desired.fields.email_verified === "boolean") patch.email_verified = desired.fields.email_verified;
  }
  for (const f of FIELD_ORDER) {
    if (createOnly.has(f)) continue;
    const d = desired.fields[f];
    if (d === undefined) continue;
    // Auth0 omits false booleans from some profiles: absent means false, not "different".
    const c = current[f] ?? (typeof d === "boolean" ? false : null);
    if (d === null) {
      if (c !== null) p[f] = null;
    } else if (c !== d) {
      p[f] = d;
    }
  }
  const um = metadataPatch(desired.user_metadata, current.user_metadata, createOnly, "user_metadata", previouslyOwned?.user_metadata);
  const am = metadataPatch(desired.app_metadata, current.app_metadata, createOnly, "app_metadata", previouslyOwned?.app_metadata);
  if (um) patch.user_metadata = um;
  if (am) patch.app_metadata = am;
  return patch;
}

/** The metadata keys a profile the sync applied owns: those no longer desired are deleted by the next patch. */
export function ownedKeys(applied: DesiredProfile): NonNullable<PlanInput["previouslyOwned"]> {
  return { user_metadata: Object.keys(applied.user_metadata), app_metadata: Object.keys(applied.app_metadata) };
}

export function plan({ desired, current, mode, previouslyOwned }: PlanInput): Operation {
  if (!current) {
    if (mode === "update") {
      return { kind: "reject", rejection: { code: "user_not_found", field: "email", reason: "no Auth0 user exists and the mode is update" } };
    }
    return { kind: "create", body: createBody(desired) };
  }
  if (mode === "insert") {
    return { kind: "reject", rejection: { code: "user_exists", field: "email", reason: "an Auth0 user already exists and the mode is insert" } };
  }
  const patch = diff(desired, current, previouslyOwned);
  if (Object.keys(patch).length === 0) return { kind: "none", userId: current.user_id };
  return { kind: "update", userId: current.user_id, patch };
}

/** Auth0's PATCH semantics, as a pure function: what the user looks like after the patch. */
export function applyPatch(current: CurrentUser, patch: UserPatch): CurrentUser {
  const next: CurrentUser = { ...current };
  const n = next as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    if (k === "user_metadata" || k === "app_metadata") continue;
    if (v === null) delete n[k];
    else n[k] = v;
  }
  for (const bag of ["user_metadata", "app_metadata"] as const) {
    const p = patch[bag];
    if (!p) continue;
    if (Object.keys(p).length === 0) {
      next[bag] = {};
      continue;
    }
    const merged: JsonObject = { ...(current[bag] ?? {}) };
    for (const [k, v] of Object.entries(p)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    next[bag] = merged;
  }
  return next;
}

export interface RoleChange {
  add: string[];
  remove: string[];
}

/** Which role names to add and remove so the user has exactly (or at least, without removeUnlisted) the desired ones. */
export function diffRoles(desired: string[], current: string[], removeUnlisted: boolean): RoleChange {
  const want = new Set(desired);
  const have = new Set(current);
  return {
    add: [...want].filter((r) => !have.has(r)).sort(),
    remove: removeUnlisted ? [...have].filter((r) => !want.has(r)).sort() : [],
  };
}

/** How a user's organization memberships and member roles change (organizations named as the table names them). */
export interface OrganizationChange {
  join: string[];
  leave: string[];
  /** Member roles to add and remove, per organization the user stays in or joins. */
  addRoles: { org: string; roles: string[] }[];
  removeRoles: { org: string; roles: string[] }[];
}

/**
 * The difference between the organizations a row wants and those applied (what the ledger last applied, or what
 * Auth0 holds for a user the ledger knows none of): join the missing ones; leave the unlisted ones only with
 * `removeUnlisted`; with member roles managed, add the missing roles and (with `removeUnlisted`) remove the
 * unlisted ones in each organization the row lists. Leaving an organization takes its member roles with it.
 */
export function diffOrganizations(desired: Record<string, string[]>, applied: Record<string, string[]>, opts: { removeUnlisted: boolean; roles: boolean }): OrganizationChange {
  const change: OrganizationChange = { join: [], leave: [], addRoles: [], removeRoles: [] };
  for (const org of Object.keys(desired).sort()) {
    if (!Object.hasOwn(applied, org)) change.join.push(org);
    if (!opts.roles) continue;
    const roles = diffRoles(desired[org] ?? [], Object.hasOwn(applied, org) ? (applied[org] ?? []) : [], opts.removeUnlisted);
    if (roles.add.length > 0) change.addRoles.push({ org, roles: roles.add });
    if (roles.remove.length > 0) change.removeRoles.push({ org, roles: roles.remove });
  }
  if (opts.removeUnlisted) change.leave = Object.keys(applied).filter((org) => !Object.hasOwn(desired, org)).sort();
  return change;
}

/**
 * Of the organizations Auth0 says a user is in, those the row lists, named as the table names them: what a user
 * the ledger knows no memberships of is taken to hold (the others are never removed, so never looked at).
 */
export function heldOrganizations(userOrgs: { id: string; name: string }[], desired: Record<string, string[]>, by: "name" | "id"): { ref: string; id: string }[] {
  return userOrgs.map((o) => ({ ref: by === "name" ? o.name : o.id, id: o.id })).filter((o) => Object.hasOwn(desired, o.ref));
}

/**
 * Which organizations (and member role names) must be checked against the tenant before a user's first write, so
 * that an unknown one rejects the row before anything is written: with the memberships known (the ledger's, a
 * seed's, none before a create), those the change joins or changes member roles in, and the member roles it adds;
 * with nothing known, every organization and member role the row lists (Auth0 is read to find the change). The
 * organizations a change leaves are not checked: one gone from the tenant took its memberships with it.
 */
export function organizationsToCheck(desired: Record<string, string[]>, known: Record<string, string[]> | undefined, opts: { removeUnlisted: boolean; roles: boolean }): { refs: string[]; roleNames: string[] } {
  if (!known) return { refs: Object.keys(desired), roleNames: [...new Set(Object.values(desired).flat())].sort() };
  const change = diffOrganizations(desired, known, opts);
  const refs = [...new Set([...change.join, ...change.addRoles.map((c) => c.org), ...change.removeRoles.map((c) => c.org)])].sort();
  return { refs, roleNames: [...new Set(change.addRoles.flatMap((c) => c.roles))].sort() };
}

/** Whether a change writes anything. */
export const organizationsChange = (c: OrganizationChange): boolean => c.join.length + c.leave.length + c.addRoles.length + c.removeRoles.length > 0;
