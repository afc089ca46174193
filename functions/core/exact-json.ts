/**
 * JSON with integers kept exact. JSON.parse turns every number into a double, which rounds an integer beyond 2^53
 * (12345678901234567890 becomes 12345678901234567000): a copy would then write a value the source never held. Here
 * an integer whose double would not be written back with the same digits becomes a BigInt, and serialising writes a
 * BigInt's digits as they are. An integer a double prints back unchanged (one a program wrote from a double) stays
 * a number: it travels unchanged; 2^60 does not (a double holds it, but prints 1152921504606847000). JSON.parse's
 * source-text access would do this natively; Node 20 does not have it.
 */
import { randomUUID } from "node:crypto";

// Stands in for an exact integer while JSON.parse runs: a string no source holds (random for each process; it never
// reaches a result).
const MARK = `\u0000exact-integer:${randomUUID()}:`;

/** The integer tokens outside strings that a double would not write back digit for digit, as [start, end] offsets. */
function inexactIntegers(text: string): [number, number][] {
  const out: [number, number][] = [];
  if (!/\d{16}/.test(text)) return out;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      // Skip the string, escapes included.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      i++;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      const start = i;
      while (i < text.length && /[-+0-9.eE]/.test(text[i]!)) i++;
      const token = text.slice(start, i);
      // Only plain integers: a fraction or an exponent is a double's business. (Up to 15 digits every integer is
      // exact.)
      if (/^-?\d{16,}$/.test(token) && String(Number(token)) !== token) out.push([start, i]);
    } else i++;
  }
  return out;
}

/** JSON.parse, except that an integer a double would change is a BigInt. Throws as JSON.parse does. */
export function parseJsonExact(text: string): unknown {
  const spans = inexactIntegers(text);
  if (spans.length === 0) return JSON.parse(text) as unknown;
  let marked = "";
  let at = 0;
  for (const [s, e] of spans) {
    marked += text.slice(at, s) + JSON.stringify(`${MARK}${text.slice(s, e)}`);
    at = e;
  }
  marked += text.slice(at);
  return JSON.parse(marked, (_k, v: unknown) => (typeof v === "string" && v.startsWith(MARK) ? BigInt(v.slice(MARK.length)) : v)) as unknown;
}

/** JSON.stringify, writing a BigInt's digits exactly (JSON.stringify alone throws on one). */
export function stringifyExact(value: unknown): string {
  let big = false;
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v !== "bigint") return v;
    big = true;
    return `${MARK}${v.toString()}`;
  });
  if (!big) return text;
  const quoted = JSON.stringify(MARK).slice(1, -1);
  return text.replace(new RegExp(`"${quoted.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(-?\\d+)"`, "g"), "$1");
}

/** A JSON value whose integers are exact: a BigInt where a double would round. */
export type ExactJson = string | number | bigint | boolean | null | ExactJson[] | { [key: string]: ExactJson };
export type ExactJsonObject = { [key: string]: ExactJson };
