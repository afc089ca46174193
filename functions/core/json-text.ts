/**
 * JSON text, read for what JSON.parse does not say. Two questions, answered by one scanner of a text's strings,
 * numbers and brackets (so that they cannot disagree on where a string ends or which string is a key):
 *
 * - Exact integers. JSON.parse turns every number into a double, which rounds an integer beyond 2^53
 *   (12345678901234567890 becomes 12345678901234567000): a copy would then write a value the source never held.
 *   An integer whose double would not be written back with the same digits becomes a BigInt, and serialising
 *   writes a BigInt's digits as they are. An integer a double prints back unchanged (one a program wrote from a
 *   double) stays a number: it travels unchanged; 2^60 does not (a double holds it, but prints
 *   1152921504606847000). JSON.parse's source-text access would do this natively; Node 20 does not have it.
 * - Keys named twice. JSON.parse keeps the last of two equal keys without a word, so `{"acme":"admin",
 *   "acme":"viewer"}` would sync as viewer while whoever wrote it may have meant admin (a row is rejected instead,
 *   naming the key), and a guard that judged the parsed value has not seen the first (a copy rewrites such a text).
 */
import { randomUUID } from "node:crypto";

/** A JSON value whose integers are exact: a BigInt where a double would round. */
export type ExactJson = string | number | bigint | boolean | null | ExactJson[] | { [key: string]: ExactJson };
export type ExactJsonObject = { [key: string]: ExactJson };

/** An object in the text names this key twice. */
export class DuplicateKeyError extends Error {
  constructor(readonly key: string) {
    super(`names the key ${JSON.stringify(key)} twice in one object (JSON keeps only the last)`);
    this.name = "DuplicateKeyError";
  }
}

// Stands in for an exact integer while JSON.parse runs: a string no source holds (random for each process; it never
// reaches a result).
const MARK = `\u0000exact-integer:${randomUUID()}:`;

/** An integer token of at least 16 digits: below that every integer is exact (a fraction or an exponent is a double's business). */
const LONG_INTEGER = /^-?\d{16,}$/;
const NUMBER_CHARACTER = /[-+0-9.eE]/;

interface Scan {
  /** The integer tokens a double would not write back digit for digit, as [start, end) offsets. */
  inexact: [number, number][];
  /** The first key an object names twice. */
  duplicateKey?: string;
}

/**
 * One pass over a JSON text, outside strings following numbers and brackets: the inexact integers (`integers`) and
 * the first key named twice in one object (`keys`). The scan does not validate: give it text JSON.parse accepts (or
 * will be asked to), and it never runs past the end of any text.
 */
function scan(text: string, want: { integers: boolean; keys: boolean }): Scan {
  const out: Scan = { inexact: [] };
  // Per open bracket: the keys seen so far (an object) or null (an array), and whether a key comes next.
  const stack: { keys: Set<string> | null; keyNext: boolean }[] = [];
  let keys = want.keys;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      const top = keys ? stack[stack.length - 1] : undefined;
      if (top?.keys && top.keyNext) {
        // The key as JSON.parse reads it: "\u0061" and "a" are the same key.
        const raw = text.slice(start + 1, i);
        const key = raw.includes("\\") ? (JSON.parse(text.slice(start, i + 1)) as string) : raw;
        top.keyNext = false;
        if (top.keys.has(key)) {
          out.duplicateKey = key;
          // The first one is the answer; the integers still need the rest of the text.
          keys = false;
        } else top.keys.add(key);
      }
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      const start = i;
      while (i + 1 < text.length && NUMBER_CHARACTER.test(text[i + 1]!)) i++;
      if (want.integers) {
        const token = text.slice(start, i + 1);
        if (LONG_INTEGER.test(token) && String(Number(token)) !== token) out.inexact.push([start, i + 1]);
      }
    } else if (keys) {
      if (c === "{") stack.push({ keys: new Set(), keyNext: true });
      else if (c === "[") stack.push({ keys: null, keyNext: false });
      else if (c === "}" || c === "]") stack.pop();
      else if (c === ",") {
        const top = stack[stack.length - 1];
        if (top?.keys) top.keyNext = true;
      }
    }
  }
  return out;
}

/** JSON.parse with integers exact, and (with `keys`) the first key named twice. Throws as JSON.parse does. */
function parse(text: string, keys: boolean): { value: unknown; duplicateKey?: string } {
  // Most texts hold no integer of 16 digits: then JSON.parse alone is exact.
  const integers = /\d{16}/.test(text);
  if (!integers) {
    const value = JSON.parse(text) as unknown;
    return keys ? { value, duplicateKey: scan(text, { integers: false, keys }).duplicateKey } : { value };
  }
  const { inexact, duplicateKey } = scan(text, { integers, keys });
  if (inexact.length === 0) return { value: JSON.parse(text) as unknown, duplicateKey };
  let marked = "";
  let at = 0;
  for (const [s, e] of inexact) {
    marked += text.slice(at, s) + JSON.stringify(`${MARK}${text.slice(s, e)}`);
    at = e;
  }
  marked += text.slice(at);
  const value = JSON.parse(marked, (_k, v: unknown) => (typeof v === "string" && v.startsWith(MARK) ? BigInt(v.slice(MARK.length)) : v)) as unknown;
  return { value, duplicateKey };
}

/** JSON.parse, except that an integer a double would change is a BigInt. Throws as JSON.parse does. */
export function parseJsonExact(text: string): unknown {
  return parse(text, false).value;
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

/**
 * The first key an object of `text` names twice, or undefined. `text` must be valid JSON (parse it first): the
 * scan only follows strings and brackets.
 */
export function duplicateKey(text: string): string | undefined {
  return scan(text, { integers: false, keys: true }).duplicateKey;
}

/** JSON.parse that refuses a key named twice in one object (DuplicateKeyError); a SyntaxError as JSON.parse's. */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  const dup = duplicateKey(text);
  if (dup !== undefined) throw new DuplicateKeyError(dup);
  return value;
}

/** A text that holds a JSON object or list: the value (integers exact), and the first key it names twice. */
export interface JsonContainer {
  value: ExactJsonObject | ExactJson[];
  duplicateKey?: string;
}

/**
 * The object or list a text holds as JSON, if it holds one (spaces around it allowed). The one answer to "is this
 * string JSON", for every rule and guard that judges a JSON text as its value.
 */
export function jsonContainer(text: string): JsonContainer | undefined {
  const t = text.trim();
  if (!(t.startsWith("{") && t.endsWith("}")) && !(t.startsWith("[") && t.endsWith("]"))) return undefined;
  try {
    const { value, duplicateKey } = parse(t, true);
    return value !== null && typeof value === "object" ? { value: value as JsonContainer["value"], ...(duplicateKey === undefined ? {} : { duplicateKey }) } : undefined;
  } catch {
    return undefined;
  }
}
