/**
 * One text in a form where spellings of the same value look the same, with the way back to the original: hidden
 * values are searched for in the folded form and replaced in the original. Folding is per character (a letter with
 * its combining marks): compatibility forms (NFKD: "ﬁ", full-width "Ａ"), accents and other marks removed ("José",
 * its NFD spelling and "Jose" all fold to "Jose"), decimal digits of every script as ASCII digits ("٤" is "4"),
 * apostrophes and hyphens of every kind as ASCII ones ("O’Brien" is "O'Brien", "Smith–Jones" is "Smith-Jones"), and
 * with `lower` the case folded too.
 */

export interface FoldedText {
  /** The folded text. */
  text: string;
  /** For each position of `text`, where its character's source starts and ends in the original (absent: the same). */
  from?: number[];
  to?: number[];
}

// A base character with the marks that follow it, or marks on their own.
const CLUSTER = /\P{M}\p{M}*|\p{M}+/gsu;
const DIGIT = /\p{Nd}/u;

/** An ASCII digit for a decimal digit of any script (Unicode encodes each script's 0-9 as consecutive points). */
function asciiDigit(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x80) return ch;
  // The digits of a script are consecutive and begin at its zero, and adjacent runs (the mathematical digits)
  // each have ten: counting the digits before this one gives its value.
  let n = 0;
  while (n < 60 && DIGIT.test(String.fromCodePoint(cp - n - 1))) n++;
  return String(n % 10);
}

// Marks people type, or word processors substitute, for the apostrophe and the hyphen in a name: right and left
// single quotes, the modifier-letter apostrophe, the grave and acute accents on their own, the prime; the Unicode
// hyphens, figure dash, en and em dash, minus sign. Mapped before NFKD, which would turn "´" into a space.
const APOSTROPHES = /[\u2019\u02BC\u2018`\u00B4\u2032]/gu;
const DASHES = /[\u2010\u2011\u2012\u2013\u2014\u2212]/gu;

const cache = new Map<string, string>();

function foldCluster(cluster: string, lower: boolean): string {
  const id = `${lower ? "l" : "c"}${cluster}`;
  let out = cache.get(id);
  if (out === undefined) {
    const stripped = cluster.replace(APOSTROPHES, "'").replace(DASHES, "-").normalize("NFKD").replace(/\p{M}/gu, "");
    const cased = lower ? stripped.toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "") : stripped;
    out = cased.replace(/\p{Nd}/gu, asciiDigit);
    if (cache.size < 10_000) cache.set(id, out);
  }
  return out;
}

/** A value folded on its own (a hidden value, to be searched for in folded texts). */
export function foldValue(s: string, lower: boolean): string {
  return fold(s, lower).text;
}

/** The folded text of `s` and the map back to it. */
export function fold(s: string, lower: boolean): FoldedText {
  // ASCII folds to itself (lower-cased, the grave accent as an apostrophe: both keep every position): the common
  // case costs no per-character work.
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) {
    const text = s.includes("`") ? s.replace(/`/g, "'") : s;
    return { text: lower ? text.toLowerCase() : text };
  }
  let text = "";
  const from: number[] = [];
  const to: number[] = [];
  for (const m of s.matchAll(CLUSTER)) {
    const folded = foldCluster(m[0], lower);
    for (let k = 0; k < folded.length; k++) {
      from.push(m.index);
      to.push(m.index + m[0].length);
    }
    text += folded;
  }
  return { text, from, to };
}

/** A match in a folded text: from `start` to `end` (exclusive), and its text there. */
export interface FoldedMatch {
  start: number;
  end: number;
  text: string;
}

/** The matches of `re` (a global pattern) in `text` that `accept` takes, left to right, not overlapping. */
export function matchesOf(text: string, re: RegExp, accept?: (text: string, start: number, end: number) => boolean): FoldedMatch[] {
  const out: FoldedMatch[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0 || (accept && !accept(text, m.index, m.index + m[0].length))) {
      // Not taken: a match may still start at the next character.
      re.lastIndex = m.index + 1;
      continue;
    }
    out.push({ start: m.index, end: m.index + m[0].length, text: m[0] });
  }
  return out;
}

/**
 * `s` (whose folded form is `f`) with the matches found in `f` replaced by `by(match)`, in the original: a match
 * covers the whole characters it touches.
 */
export function replaceFolded(s: string, f: FoldedText, matches: readonly FoldedMatch[], by: (match: string) => string): string {
  let out = "";
  let at = 0;
  for (const m of matches) {
    const start = f.from ? f.from[m.start]! : m.start;
    const end = f.to ? f.to[m.end - 1]! : m.end;
    // Two matches within one original character (a ligature) replace it once.
    if (start < at) continue;
    out += s.slice(at, start) + by(m.text);
    at = end;
  }
  return out + s.slice(at);
}

const WORD_CHARACTER = /[\p{L}\p{N}]/u;

/**
 * The match from `start` to `end` of `text` stands as a word: no letter or digit touches it. (Checked here rather
 * than with lookarounds in the pattern: a pattern with Unicode classes costs far more to compile than to run, and
 * each user's patterns are new.)
 */
export function standsAsWord(text: string, start: number, end: number): boolean {
  const before = start > 0 ? String.fromCodePoint(text.codePointAt(start - 1 - (start > 1 && /[\uDC00-\uDFFF]/.test(text[start - 1]!) ? 1 : 0))!) : "";
  const after = end < text.length ? String.fromCodePoint(text.codePointAt(end)!) : "";
  return !WORD_CHARACTER.test(before) && !WORD_CHARACTER.test(after);
}
