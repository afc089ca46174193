import type { BooleanField, ProfileField, TextField } from "./fields.js";

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A warehouse row as the Redshift adapter yields it: column name -> value. */
export type RowValue = string | number | bigint | boolean | null | undefined | Uint8Array | Json[] | JsonObject;
export type Row = Record<string, RowValue>;

export type { ProfileField };
export type FieldValue = string | boolean | null;

/**
 * What the sync wants the Auth0 user to look like. A null means "clear it in Auth0" (per the field's NULL
 * policy); a field that is absent is left alone.
 */
export interface DesiredProfile {
  /** Identity key: the key column's value, or the lower-cased email when the table has no key. */
  key: string;
  /** Lower-cased, validated. */
  email: string;
  fields: Partial<Record<ProfileField, FieldValue>>;
  user_metadata: JsonObject;
  app_metadata: JsonObject;
  /** Targets ("given_name", "app_metadata.tier") sent only when the user is created. */
  createOnly: string[];
  /** Role names the user should have; undefined when roles are not managed. */
  roles?: string[];
  /**
   * The organizations the user should be a member of (as the table names them: names or ids), each with the role
   * names it should have there (empty when member roles are not managed); undefined when memberships are not managed.
   */
  organizations?: Record<string, string[]>;
}

export type RejectCode =
  | "missing_key"
  | "key_too_long"
  | "missing_email"
  | "invalid_email"
  | "invalid_phone"
  | "invalid_length"
  | "invalid_uri"
  | "invalid_boolean"
  | "invalid_json"
  | "invalid_metadata_key"
  | "reserved_metadata_key"
  | "invalid_value"
  | "invalid_roles"
  | "profile_too_large"
  | "duplicate_key"
  | "duplicate_email"
  | "user_exists"
  | "user_not_found"
  | "ambiguous_user"
  | "unknown_role"
  | "invalid_organizations"
  | "unknown_organization"
  | "auth0_rejected"
  | "malformed_message"
  | "identity_conflict";

/** Why a row can never succeed. `keyLabel` is safe to show (an identity key, or a hash when the key is an email). */
export interface Rejection {
  code: RejectCode;
  /** Row number in the run (1-based), when known. */
  row?: number;
  keyLabel?: string;
  /** Field path, e.g. "phone_number" or "user_metadata.preferences". */
  field: string;
  /** The reason without the row reference. Never contains an email address. */
  reason: string;
}

export function rejectionMessage(r: Rejection): string {
  const where = [r.row !== undefined ? `row ${r.row}` : undefined, r.keyLabel !== undefined ? `key ${r.keyLabel}` : undefined]
    .filter(Boolean)
    .join(", ");
  return `${where ? `${where}: ` : ""}${r.field}: ${r.reason}`;
}

/** The catalog's fields (core/fields.ts) with their value types: booleans as booleans, the rest as text. */
type Fields<Text> = { [F in BooleanField]?: boolean } & { [F in TextField]?: Text };

/** What is known of the Auth0 user: the profile fields the sync compares. */
export type CurrentUser = Fields<string | null> & {
  user_id: string;
  email?: string | null;
  user_metadata?: JsonObject;
  app_metadata?: JsonObject;
};

/**
 * A user as Auth0 holds it, with its role names when they were read, and its memberships (with member roles) in the
 * organizations that were read. A reconcile's seed also says which those are (`organizationsRead`): a user is known
 * not to be a member only of an organization whose members were read.
 */
export type ObservedUser = CurrentUser & { roles?: string[]; organizations?: Record<string, string[]>; organizationsRead?: string[] };

/** Body of a create, without the connection and password (the Auth0 adapter adds those). */
export type CreateBody = Fields<string> & {
  email: string;
  user_metadata?: JsonObject;
  app_metadata?: JsonObject;
};

/** A PATCH body: top-level fields replace (null clears); metadata merges at the first level (null deletes a key). */
export type UserPatch = Fields<string | null> & {
  email?: string;
  user_metadata?: JsonObject;
  app_metadata?: JsonObject;
};
