/**
 * One source user's hidden values (the fields a copy pseudonymises or drops, the email, the user_id of every
 * identity) and what replaces each, for the guard on kept metadata (docs/tenant-copy.md, "Two guards"). Texts are
 * compared folded (core/text-fold.ts: compatibility forms, accents, digits of any script, and case where it does not
 * matter), so a value written in another Unicode form, without its accents or in full-width digits is found too.
 *
 * - the email anywhere, in any case, also URL-encoded and in base64 (standard or URL-safe, as written or lower-cased);
 * - each identity's user_id anywhere, also URL-encoded, and its unique part (after the first `|`: the provider's
 *   id) when it has at least MIN_UNIQUE_ID characters; an all-digit one also as a JSON number;
 * - a name of several words (given and family name together, `name`) as the whole sequence in any case; a single
 *   word as a word capitalised as the profile has it or in capitals ("May", "MAY"; not "may", which is also a
 *   word), or as a whole text in any case, so a name that is also a common word is left alone in lower case within
 *   a sentence;
 * - the phone number by its digits in any separators, with or without its country code or trunk 0, and as a JSON
 *   number of those digits.
 * What replaces a value is its pseudonym (keyed, so the same value always gives the same replacement).
 */
import { fold, foldValue, matchesOf, replaceFolded, standsAsWord, type FoldedMatch, type FoldedText } from "./text-fold.js";

/** A unique part of a user_id shorter than this is only found inside the whole user_id (it would match anywhere). */
export const MIN_UNIQUE_ID = 6;

type Form = "raw" | "cased" | "lower";

interface Rule {
  /** Where the pattern is searched: the text as written (base64 is case-sensitive), folded keeping case, or folded and lower-cased. */
  form: Form;
  /** Where the value is in a folded text (a pattern, compiled when a text first holds the needle). */
  find: (text: string) => FoldedMatch[];
  /**
   * A plain string every match contains, looked for first (most texts hold none of a user's values, and a plain
   * search costs far less than a pattern): in the text as written, folded and lower-cased, or its digits alone.
   */
  needle: { in: "raw" | "lower" | "digits"; text: string };
  to: (match: string) => string;
  /** Longer values are replaced first ("Ada Lovelace" before "Ada"). */
  length: number;
  /** The email and the user_ids: replaced also inside an email address that real emails allow to pass. */
  literal: boolean;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The groups of digits in a text, and what may stand between two groups of one phone number. */
const DIGIT_GROUPS = /\d+/g;
const PHONE_SEPARATORS = /^[\s().\-/\u2010-\u2015]*$/u;

/**
 * Phone numbers in a text: runs of digit groups (each whole: no digit touches a run) joined only by separators,
 * whose digits are one of `spellings`, with a "+" just before; the longest run from each group. (A scan rather than
 * a pattern of every spelling: each user's number would be a new pattern to compile, at a cost far above the scan.)
 */
function phoneMatches(text: string, spellings: ReadonlySet<string>): FoldedMatch[] {
  const groups = [...text.matchAll(DIGIT_GROUPS)].map((m) => ({ start: m.index, end: m.index + m[0].length, digits: m[0] }));
  const out: FoldedMatch[] = [];
  for (let i = 0; i < groups.length; i++) {
    let digits = "";
    let found = -1;
    for (let j = i; j < groups.length; j++) {
      if (j > i && !PHONE_SEPARATORS.test(text.slice(groups[j - 1]!.end, groups[j]!.start))) break;
      digits += groups[j]!.digits;
      if (digits.length > 17) break;
      if (spellings.has(digits)) found = j;
    }
    if (found < 0) continue;
    const plus = text.lastIndexOf("+", groups[i]!.start);
    const start = plus >= 0 && PHONE_SEPARATORS.test(text.slice(plus + 1, groups[i]!.start)) && !/\d/.test(text.charAt(plus - 1)) ? plus : groups[i]!.start;
    const end = groups[found]!.end;
    out.push({ start, end, text: text.slice(start, end) });
    i = found;
  }
  return out;
}

// Compiled patterns, shared by the users that have the same values (names repeat). Bounded: emptied when full.
const COMPILED = new Map<string, RegExp>();
function compiled(pattern: string): RegExp {
  let re = COMPILED.get(pattern);
  if (!re) {
    if (COMPILED.size >= 5_000) COMPILED.clear();
    re = new RegExp(pattern, "gu");
    COMPILED.set(pattern, re);
  }
  return re;
}

/** Finds a pattern (compiled on first use); with `word`, only matches that stand as a word. */
function pattern(source: string, word = false): (text: string) => FoldedMatch[] {
  let re: RegExp | undefined;
  return (text) => matchesOf(text, (re ??= compiled(source)), word ? standsAsWord : undefined);
}

const title = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function base64Forms(s: string): { unpadded: string; encode: (v: string, padded: boolean) => string }[] {
  const std = (v: string, padded: boolean) => {
    const b = Buffer.from(v, "utf8").toString("base64");
    return padded ? b : b.replace(/=+$/, "");
  };
  const url = (v: string, padded: boolean) => std(v, padded).replace(/\+/g, "-").replace(/\//g, "_");
  return [std, url].map((encode) => ({ unpadded: encode(s, false), encode }));
}

export class HiddenValues {
  private readonly rules: Rule[] = [];
  private sorted?: Rule[];
  /** Integers (as digits) hidden as JSON numbers, and the number replacing each. */
  private readonly numbers = new Map<string, number>();

  private add(rule: Rule): void {
    this.rules.push(rule);
    this.sorted = undefined;
  }

  /** A value found wherever it occurs in the folded, lower-cased text. */
  private literal(folded: string, to: (match: string) => string, length: number): void {
    this.add({ form: "lower", find: pattern(escape(folded)), needle: { in: "lower", text: folded }, to, length, literal: true });
  }

  /** The user's email address and its pseudonym. */
  email(address: string, to: string): void {
    const a = address.trim();
    if (a === "") return;
    this.literal(foldValue(a, true), () => to, a.length);
    const encoded = encodeURIComponent(a);
    if (encoded !== a) this.literal(encoded.toLowerCase(), () => encodeURIComponent(to), encoded.length);
    const seen = new Set<string>();
    for (const spelling of new Set([a, a.toLowerCase()])) {
      for (const { unpadded, encode } of base64Forms(spelling)) {
        if (seen.has(unpadded)) continue;
        seen.add(unpadded);
        this.add({ form: "raw", find: pattern(`${escape(unpadded)}={0,2}`), needle: { in: "raw", text: unpadded }, to: (m) => encode(to, m.endsWith("=")), length: unpadded.length, literal: true });
      }
    }
  }

  /**
   * One identity's user_id (`provider|id`) and its replacement; `numberTo` gives the replacement of an all-digit
   * unique part written as a number.
   */
  identity(userId: string, to: string, numberTo: (digits: string) => number): void {
    const id = userId.trim();
    if (id === "") return;
    const forms = new Set([id, encodeURIComponent(id)]);
    const bar = id.indexOf("|");
    const unique = bar >= 0 ? id.slice(bar + 1) : "";
    if (unique.length >= MIN_UNIQUE_ID) {
      // An all-digit id is found as a number of its own, not inside a longer one (a timestamp, a phone number).
      if (/^\d+$/.test(unique)) {
        this.add({ form: "lower", find: pattern(`(?<!\\d)${unique}(?!\\d)`), needle: { in: "lower", text: unique }, to: () => to, length: unique.length, literal: true });
        const digits = BigInt(unique).toString();
        if (digits.length >= MIN_UNIQUE_ID && !this.numbers.has(digits)) this.numbers.set(digits, numberTo(digits));
      } else forms.add(unique);
      if (encodeURIComponent(unique) !== unique) forms.add(encodeURIComponent(unique));
    }
    for (const f of forms) {
      if (f.length < MIN_UNIQUE_ID && f !== id) continue;
      this.literal(foldValue(f, true), () => to, f.length);
    }
  }

  /**
   * A name or other hidden text. A single word (letters only) is found as a word capitalised as given or in
   * capitals (lower case too only when given in lower case), or as the whole text in any case; anything longer as
   * the whole sequence in any case.
   */
  text(value: string, to: string): void {
    const cased = foldValue(value.trim(), false);
    if (cased === "") return;
    if (/^\p{L}+$/u.test(cased)) {
      const spellings = [...new Set([cased, cased.toUpperCase(), title(cased), title(cased.toLowerCase())])].sort((a, b) => b.length - a.length);
      const needle = { in: "lower" as const, text: foldValue(cased, true) };
      this.add({ form: "cased", find: pattern(spellings.map(escape).join("|"), true), needle, to: () => to, length: cased.length, literal: false });
      // A text that is nothing but the name holds the name, in whatever case ({"first": "ada"}).
      this.add({ form: "lower", find: pattern(`^\\s*${escape(needle.text)}\\s*$`), needle, to: (m) => m.replace(/\S+/u, to), length: cased.length, literal: false });
      return;
    }
    const words = foldValue(value.trim(), true).split(/\s+/);
    this.add({ form: "lower", find: pattern(words.map(escape).join("\\s+"), true), needle: { in: "lower", text: words.reduce((a, b) => (b.length > a.length ? b : a)) }, to: () => to, length: cased.length, literal: false });
  }

  /**
   * A phone number (E.164: a country code of 1 to 3 digits, then the national number): found as the whole number,
   * with 00 for the +, or as a national number of at least 7 digits after any 1 to 3 digits of it, with or without
   * a trunk 0 (also "(0)" after the country code), in any separators; a JSON number of any of those digits too.
   */
  phone(value: string, to: string): void {
    const full = foldValue(value, true).replace(/\D/g, "");
    if (full.length < 7) return this.text(value, to);
    const spellings = new Set([full, `00${full}`]);
    for (let c = 1; c <= 3 && full.length - c >= 7; c++) {
      const [code, national] = [full.slice(0, c), full.slice(c)];
      for (const d of [national, `0${national}`, `${code}0${national}`, `00${code}0${national}`]) spellings.add(d);
    }
    // Every spelling ends with the number's last 7 digits, which separators cannot split in the text's digits.
    const needle = { in: "digits" as const, text: full.slice(-7) };
    this.add({ form: "lower", find: (text) => phoneMatches(text, spellings), needle, to: () => to, length: full.length + 10, literal: false });
    // As a JSON number (which has no leading 0), the phone's pseudonym's digits.
    const number = Number(to.replace(/\D/g, ""));
    for (const d of spellings) if (!d.startsWith("0") && !this.numbers.has(d)) this.numbers.set(d, number);
  }

  /** The replacement of a kept number equal to a hidden one (a phone number's digits, an all-digit id), if it is one. */
  number(v: number | bigint): number | undefined {
    if (typeof v === "number" && !(Number.isInteger(v) && Math.abs(v) < 1e21)) return undefined;
    return v < 0 ? undefined : this.numbers.get(v.toString());
  }

  /** The text with every hidden value (or only the literal ones: email, user_ids) replaced, longest first. */
  scrub(s: string, o: { literalsOnly?: boolean } = {}): string {
    this.sorted ??= [...this.rules].sort((a, b) => b.length - a.length);
    let out = s;
    let folds: Partial<Record<Form, FoldedText>> = {};
    let digits: string | undefined;
    const folded = (form: Form) => (folds[form] ??= form === "raw" ? { text: out } : fold(out, form === "lower"));
    for (const r of this.sorted) {
      if (o.literalsOnly && !r.literal) continue;
      const hay = r.needle.in === "raw" ? out : r.needle.in === "lower" ? folded("lower").text : (digits ??= folded("lower").text.replace(/\D/g, ""));
      if (!hay.includes(r.needle.text)) continue;
      const f = folded(r.form);
      const matches = r.find(f.text);
      if (matches.length === 0) continue;
      out = replaceFolded(out, f, matches, r.to);
      folds = {};
      digits = undefined;
    }
    return out;
  }
}
