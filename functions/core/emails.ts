/**
 * Email addresses inside free text (Auth0's error messages, profile and metadata values): found with one pattern,
 * so what is redacted in a log line and what is masked in a drift report cannot disagree.
 */
import type { Json } from "./types.js";

export const EMAILS_IN_TEXT = /[^\s'"<>(),:;]+@[^\s'"<>(),:;]+/g;

/** A whole value that looks like one email address (pseudonymised as an email, masked as one). */
export const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/;

/** An email shown in a report: its first character and domain ("j***@example.com"); never the address itself. */
export function maskEmail(v: Json | undefined): Json | undefined {
  if (typeof v !== "string") return v;
  const at = v.lastIndexOf("@");
  return at < 1 ? "***" : `${v[0]}***${v.slice(at)}`;
}

/** Email addresses anywhere in a value, masked: a drift report, a plan or a log line never shows one (a name or a metadata value may hold one). */
export function maskEmails(v: Json | undefined): Json | undefined {
  if (typeof v === "string") return v.replace(EMAILS_IN_TEXT, (m) => maskEmail(m) as string);
  if (Array.isArray(v)) return v.map((x) => maskEmails(x) ?? null);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskEmails(x) ?? null]));
  return v;
}
