/**
 * The profile fields the sync maps: one table, from which the config's targets, the row validation (lengths,
 * booleans, formats), the order of create and patch bodies and the Auth0 adapter's reading of a user derive.
 * Adding a field is one entry here plus its test (docs/architecture.md, "Adding a profile field").
 *
 * `kind` says how a value is checked and sent: text (trimmed, no control characters, within `length`), boolean
 * (true/false, t/f, yes/no, 1/0), email, uri (http or https), phone (E.164 after removing spaces, dashes and
 * brackets), username (Auth0's allowed characters). `length` is Auth0's documented limit in characters.
 * `importable`: whether Auth0's bulk import schema takes the field (core/import-batches.ts).
 */
export const PROFILE_FIELDS = {
  email: { kind: "email", length: [3, 254], importable: true },
  email_verified: { kind: "boolean", importable: true },
  given_name: { kind: "text", length: [1, 150], importable: true },
  family_name: { kind: "text", length: [1, 150], importable: true },
  name: { kind: "text", length: [1, 300], importable: true },
  nickname: { kind: "text", length: [1, 300], importable: true },
  picture: { kind: "uri", length: [1, 2048], importable: true },
  // Auth0's bulk import schema has no phone number: a user with one is created the per-user way.
  phone_number: { kind: "phone", importable: false },
  blocked: { kind: "boolean", importable: true },
  username: { kind: "username", length: [1, 128], importable: true },
} as const satisfies Record<string, { kind: "email" | "boolean" | "text" | "uri" | "phone" | "username"; length?: readonly [number, number]; importable: boolean }>;

export type StandardField = keyof typeof PROFILE_FIELDS;
/** The fields besides the email (which every profile has, and which is also the identity without a key column). */
export type ProfileField = Exclude<StandardField, "email">;
export type BooleanField = { [F in ProfileField]: (typeof PROFILE_FIELDS)[F]["kind"] extends "boolean" ? F : never }[ProfileField];
export type TextField = Exclude<ProfileField, BooleanField>;

export const STANDARD_FIELDS = Object.keys(PROFILE_FIELDS) as StandardField[];
/** In the table's order: the order of fields in create and patch bodies. */
export const PROFILE_FIELD_NAMES = STANDARD_FIELDS.filter((f): f is ProfileField => f !== "email");
export const BOOLEAN_FIELDS: ReadonlySet<ProfileField> = new Set(PROFILE_FIELD_NAMES.filter((f) => PROFILE_FIELDS[f].kind === "boolean"));
export const TEXT_FIELDS = PROFILE_FIELD_NAMES.filter((f): f is TextField => !BOOLEAN_FIELDS.has(f));

/** A field's length limits, if it has any. */
export function lengthLimits(field: StandardField): readonly [number, number] | undefined {
  const spec = PROFILE_FIELDS[field];
  return "length" in spec ? spec.length : undefined;
}

/** The fields Auth0's bulk user import takes (its schema allows no others). */
export const IMPORTABLE_FIELDS: ReadonlySet<ProfileField> = new Set(PROFILE_FIELD_NAMES.filter((f) => PROFILE_FIELDS[f].importable));
