/**
 * The plan of a tenant copy shows what the transform does before anything is written: for the first users read,
 * each source value (masked: enough to recognise the kind of value, not the person) beside what the target gets.
 */
import { EMAILS_IN_TEXT, EMAIL_SHAPE } from "./emails.js";
import { PROFILE_FIELD_NAMES } from "./fields.js";
import type { CopiedUser, SourceUser } from "./pseudonymise.js";
import { SOURCE_KEY_COLUMN, fieldMode, type TransformConfig } from "./tenant-copy-config.js";
import type { ProfileField } from "./fields.js";

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

/** A metadata key as the plan prints it: an address in it masked (a key may be another person's email). */
const shownKey = (k: string): string => k.replace(EMAILS_IN_TEXT, (m) => maskSourceValue(m));

const keysOf = (v: unknown): string => (v && typeof v === "object" && !Array.isArray(v) ? Object.keys(v).map(shownKey).sort().join(", ") || "(nothing)" : "(nothing)");

/** A metadata path a deny list let through, and how many of the users read have it. */
export interface PassedPath {
  path: string;
  users: number;
}

/** Distinct paths counted at most (a tenant whose keys are ids would otherwise grow this without end). */
const MAX_PASSED_PATHS = 500;

export class CopySample {
  private readonly users: SampleUser[] = [];
  private readonly passed = new Map<string, number>();
  /** More distinct paths were met than are counted. */
  private passedTruncated = false;

  /** @param transform decides what counts as kept: a kept value is shown masked on both sides. */
  constructor(
    private readonly size = 5,
    private readonly transform?: TransformConfig,
  ) {}

  /** Records a user read from the source and what the copy made of it (the sample until it is full; every user's passed paths). */
  readonly add = (user: SourceUser, copied: CopiedUser): void => {
    this.countPassed(copied.passedByDeny);
    if (this.users.length >= this.size) return;
    const row = copied.row;
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

  /**
   * The metadata paths that bags ruled by a deny list copied, over every user read, by path: each top-level key,
   * and below a key with a denied path under it the keys beside the denied one (`crm.account_ref` beside a denied
   * `crm.owner_notes`), as the Pseudonymiser reported them while it applied the rules (CopiedUser). An allow list
   * names what it copies; a deny list copies what nobody named, and this is it. `truncated`: more distinct paths
   * were met than MAX_PASSED_PATHS, the first ones are counted.
   */
  passedByDeny(): { paths: PassedPath[]; truncated: boolean } {
    const paths = [...this.passed].map(([path, users]) => ({ path, users })).sort((a, b) => a.path.localeCompare(b.path));
    return { paths, truncated: this.passedTruncated };
  }

  /** One user's passed paths, each counted once for the user. */
  private countPassed(passed: CopiedUser["passedByDeny"]): void {
    for (const p of new Set(passed.map((keys) => keys.map(shownKey).join(".")))) {
      const n = this.passed.get(p);
      if (n !== undefined) this.passed.set(p, n + 1);
      else if (this.passed.size < MAX_PASSED_PATHS) this.passed.set(p, 1);
      else this.passedTruncated = true;
    }
  }
}
