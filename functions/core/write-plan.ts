/**
 * Decides the one write that makes an Auth0 user match a desired profile, following Auth0's merge rules:
 * top-level fields replace (null clears), metadata merges at the first level (a null deletes a key, `{}`
 * would wipe the whole object and is never sent).
 */
import { PROFILE_FIELD_NAMES } from "./fields.js";
import { jsonEqual } from "./fingerprint.js";
import type { CreateBody, CurrentUser, DesiredProfile, JsonObject, Rejection, UserPatch } from "./types.js";

export type SyncMode = "insert" | "update" | "upsert";

/** The one write (or refusal) that makes an Auth0 user match a desired profile. */
export type WritePlan =
  | { kind: "create"; body: CreateBody }
  | { kind: "update"; userId: string; patch: UserPatch }
  | { kind: "none"; userId: string }
  | { kind: "reject"; rejection: Omit<Rejection, "row" | "keyLabel"> };

export interface WriteInput {
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
export function diff(desired: DesiredProfile, current: CurrentUser, previouslyOwned?: WriteInput["previouslyOwned"]): UserPatch {
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
export function ownedKeys(applied: DesiredProfile): NonNullable<WriteInput["previouslyOwned"]> {
  return { user_metadata: Object.keys(applied.user_metadata), app_metadata: Object.keys(applied.app_metadata) };
}

export function writeFor({ desired, current, mode, previouslyOwned }: WriteInput): WritePlan {
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
