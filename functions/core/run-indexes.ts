/**
 * The per-run indexes of the extract, kept as 64-bit hashes in typed arrays so a run of millions of rows stays in
 * tens of MB: the keys and emails seen (a second row of either is a duplicate), and the fingerprints the ledger
 * says are applied (the unchanged check read up front).
 */
import type { DesiredProfile, Rejection } from "./types.js";

/**
 * Rejects the second and later rows of one run that carry an identity key or an email already seen:
 * Auth0 holds one user per email and connection, so either row could be the truth. Keys and emails are kept as
 * 64-bit hashes in typed arrays (12 bytes a slot), not as strings: a million-row run costs tens of MB, not
 * hundreds. Two different values share a hash with a probability of about n^2 / 2^65 (3e-8 at a million rows);
 * such a row would be rejected as a duplicate, with its reason, never merged.
 */
export class RunDuplicates {
  private readonly keys = new HashedRows();
  private readonly emails = new HashedRows();

  check(profile: DesiredProfile, row: number, keyLabel: string): Rejection | undefined {
    const firstKey = this.keys.get(profile.key);
    if (firstKey !== undefined) {
      return { code: "duplicate_key", row, keyLabel, field: "key", reason: `the same identity key appears again (first at row ${firstKey})` };
    }
    this.keys.set(profile.key, row);
    const firstEmail = this.emails.get(profile.email);
    if (firstEmail !== undefined) {
      return {
        code: "duplicate_email",
        row,
        keyLabel,
        field: "email",
        reason: `the same email address is already used by row ${firstEmail} under another key`,
      };
    }
    this.emails.set(profile.email, row);
    return undefined;
  }
}

/** Two independent 32-bit hashes of a string (cyrb53's mixing, split in halves). */
function hash64(s: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

/**
 * An open-addressing table from a string's 64-bit hash to `width` 32-bit values, growing at half full: a
 * million keys in typed arrays of about 30 MB, where a Map of the strings would take several times that.
 */
class Hash64Table {
  private hi = new Uint32Array(1024);
  private lo = new Uint32Array(1024);
  private used = new Uint8Array(1024);
  private values: Uint32Array;
  private size = 0;

  constructor(private readonly width: number) {
    this.values = new Uint32Array(1024 * width);
  }

  private slot(a: number, b: number): number {
    const mask = this.used.length - 1;
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & mask;
    while (this.used[i] !== 0 && (this.hi[i] !== a || this.lo[i] !== b)) i = (i + 1) & mask;
    return i;
  }

  /** The slot holding this string's values, or -1. */
  find(s: string): number {
    const [a, b] = hash64(s);
    const i = this.slot(a, b);
    return this.used[i] === 0 ? -1 : i;
  }

  value(slot: number, j = 0): number {
    return this.values[slot * this.width + j]!;
  }

  set(s: string, ...vals: number[]): void {
    if ((this.size + 1) * 2 > this.used.length) this.grow();
    const [a, b] = hash64(s);
    const i = this.slot(a, b);
    if (this.used[i] === 0) this.size++;
    this.hi[i] = a;
    this.lo[i] = b;
    this.used[i] = 1;
    for (let j = 0; j < this.width; j++) this.values[i * this.width + j] = vals[j]!;
  }

  private grow(): void {
    const { hi, lo, used, values, width } = this;
    const n = used.length * 2;
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    this.used = new Uint8Array(n);
    this.values = new Uint32Array(n * width);
    for (let j = 0; j < used.length; j++) {
      if (used[j] === 0) continue;
      const i = this.slot(hi[j]!, lo[j]!);
      this.hi[i] = hi[j]!;
      this.lo[i] = lo[j]!;
      this.used[i] = 1;
      this.values.set(values.subarray(j * width, (j + 1) * width), i * width);
    }
  }
}

/** A string's first row number. */
class HashedRows {
  private readonly table = new Hash64Table(1);

  get(s: string): number | undefined {
    const i = this.table.find(s);
    return i < 0 ? undefined : this.table.value(i);
  }

  set(s: string, row: number): void {
    this.table.set(s, row);
  }
}

/**
 * The extractor's unchanged check when it has read the ledger up front: identity key -> fingerprint of the
 * profile applied, both kept as 64-bit hashes. A changed row could pass for unchanged only through a 64-bit
 * collision (its new fingerprint's hash equal to the old one's), about one chance in 10^19 per changed row.
 */
export class AppliedFingerprints {
  /** Per key: the fingerprint's 64-bit hash, and 1 when the run reading it had already settled the key. */
  private readonly table = new Hash64Table(3);
  size = 0;

  /** Keys the ledger holds without an applied profile (a rejection's note, a create that may have landed). */
  private readonly others = new HashedRows();

  /** A key the ledger holds, but not as applied. */
  addSeen(key: string): void {
    this.others.set(key, 1);
  }

  /** Whether the ledger holds the key at all (a key it never saw is a new user: core/import-batches.ts). */
  known(key: string): boolean {
    return this.table.find(key) >= 0 || this.others.get(key) !== undefined;
  }

  add(key: string, fingerprint: string, settledInRun = false): void {
    const [a, b] = hash64(fingerprint);
    if (this.table.find(key) < 0) this.size++;
    this.table.set(key, a, b, settledInRun ? 1 : 0);
  }

  /** Whether the key was settled earlier in the run that read the index (see core/decide.ts settledInRun). */
  settledInRun(key: string): boolean {
    const i = this.table.find(key);
    return i >= 0 && this.table.value(i, 2) === 1;
  }

  isApplied(key: string, fingerprint: string): boolean {
    const i = this.table.find(key);
    if (i < 0) return false;
    const [a, b] = hash64(fingerprint);
    return this.table.value(i, 0) === a && this.table.value(i, 1) === b;
  }
}

