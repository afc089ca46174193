import { createHash } from "node:crypto";
import type { DesiredProfile, Json } from "./types.js";

/** JSON with object keys sorted at every depth, so equal values always serialise the same way. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** Bump when the meaning of a desired profile changes, so every row is treated as changed once. */
export const FINGERPRINT_VERSION = 1;

/**
 * A stable hash of everything the sync would write for this row: equal desired profiles have equal
 * fingerprints whatever the order of their keys; any difference in a value changes it.
 */
export function fingerprint(p: DesiredProfile): string {
  const material = {
    v: FINGERPRINT_VERSION,
    key: p.key,
    email: p.email,
    fields: p.fields,
    user_metadata: p.user_metadata,
    app_metadata: p.app_metadata,
    createOnly: [...p.createOnly].sort(),
    roles: p.roles ? [...p.roles].sort() : null,
    // Absent without organizations, so the fingerprints of syncs that do not manage them stay as they were.
    organizations: p.organizations,
  };
  return createHash("sha256").update(canonicalJson(material)).digest("base64url");
}

export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}
