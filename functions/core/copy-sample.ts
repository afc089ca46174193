/**
 * The plan of a tenant copy shows what the transform does before anything is written: for the first users read,
 * each source value (masked: enough to recognise the kind of value, not the person) beside what the target gets.
 */
import { EMAIL_SHAPE } from "./emails.js";
import { PROFILE_FIELD_NAMES } from "./fields.js";
import type { SourceUser } from "./pseudonymise.js";
import { SOURCE_KEY_COLUMN, fieldMode, type TransformConfig } from "./tenant-copy-config.js";
import type { ProfileField } from "./fields.js";
import type { Row } from "./types.js";

export interface SampleValue {
  field: string;
  /** The source value, masked. */
  source: string;
  /** What the target gets: a pseudonym, "(dropped)", or the masked value with "(kept)". */
  target: string;
}

export interface SampleUser {
  /** The user's identity in the target (a keyed hash, never the source user_id). */
  key: string;
  values: SampleValue[];
}

/** A value masked for a screen: the first character of each part, the rest starred. */
export function maskSourceValue(v: unknown): string {
  if (typeof v === "boolean") return String(v);
  if (typeof v !== "string") return v === null || v === undefined ? "(none)" : "(a value)";
  const s = v.trim();
  if (EMAIL_SHAPE.test(s)) {
    const [local = "", domain = ""] = s.split("@");
    const tld = domain.includes(".") ? domain.slice(domain.lastIndexOf(".")) : "";
    return `${local[0] ?? ""}***@${domain[0] ?? ""}***${tld}`;
  }
  if (/^\+?[0-9 ()-]{6,}$/.test(s)) return `${s.startsWith("+") ? "+" : ""}${"*".repeat(Math.max(0, s.replace(/\D/g, "").length - 2))}${s.replace(/\D/g, "").slice(-2)}`;
  if (/^https?:\/\//.test(s)) return `${s.slice(0, s.indexOf("//") + 3)}***`;
  return s
    .split(/\s+/)
    .map((w) => `${w[0] ?? ""}${"*".repeat(Math.min(8, Math.max(0, w.length - 1)))}`)
    .join(" ");
}

const keysOf = (v: unknown): string => (v && typeof v === "object" && !Array.isArray(v) ? Object.keys(v).sort().join(", ") || "(nothing)" : "(nothing)");

export class CopySample {
  private readonly users: SampleUser[] = [];

  /** @param transform decides what counts as kept: a kept value is shown masked on both sides. */
  constructor(
    private readonly size = 5,
    private readonly transform?: TransformConfig,
  ) {}

  /** Records a user read from the source and the row made of it (until the sample is full). */
  readonly add = (user: SourceUser, row: Row): void => {
    if (this.users.length >= this.size) return;
    const values: SampleValue[] = [];
    for (const field of ["email", ...PROFILE_FIELD_NAMES]) {
      const from = user[field];
      if (from === undefined || from === null || from === "") continue;
      const to = row[field];
      // Kept by the transform's mode, not by equality: a kept text whose email was scrubbed is still the person's.
      const kept = field === "email" ? this.transform?.email === "keep" : this.transform ? fieldMode(this.transform, field as ProfileField) === "keep" : to === from;
      const target = to === null || to === undefined ? "(dropped)" : kept ? `${maskSourceValue(to)} (kept)` : typeof to === "string" ? to : JSON.stringify(to);
      values.push({ field, source: maskSourceValue(from), target });
    }
    for (const bag of ["user_metadata", "app_metadata"] as const) {
      values.push({ field: bag, source: `keys: ${keysOf(user[bag])}`, target: `keys: ${keysOf(row[bag])}` });
    }
    this.users.push({ key: typeof row[SOURCE_KEY_COLUMN] === "string" ? row[SOURCE_KEY_COLUMN] : "", values });
  };

  lines(): SampleUser[] {
    return this.users.map((u) => ({ key: u.key, values: u.values.map((v) => ({ ...v })) }));
  }
}
