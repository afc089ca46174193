/**
 * A run over an unloaded table, in segments (docs/scaling.md): one segment per file UNLOAD wrote, each read, checked
 * and sent by a worker of its own; the run's figures are the sum of its segments', and mirror mode decides over the
 * whole run from the keys every segment saw. Pure: the segment list from UNLOAD's manifest, the sum and its
 * completeness, the 64-bit key hashes and the presence they make.
 */
import { createHash } from "node:crypto";
import type { SyncConfig } from "./config.js";
import { SyncError } from "./errors.js";
import { unkeyedReason, type Presence, type PresenceRecorder } from "./mirror.js";
import type { RejectCode } from "./types.js";

/** One unloaded file, as a segment worker is given it (a Map item of the state machine). */
export interface Segment {
  index: number;
  bucket: string;
  key: string;
  /** Rows in the file (the manifest's record_count). */
  rows: number;
  /** Rows of the segments before it: its first row is row rowOffset + 1 of the run. */
  rowOffset: number;
}

export class ManifestError extends SyncError {
  override readonly name = "ManifestError";
  readonly retryable = false;
}

/** UNLOAD's manifest (`MANIFEST VERBOSE`) -> the run's segments, in the manifest's order. */
export function segmentsFromManifest(manifest: unknown, bucket: string): Segment[] {
  const entries = (manifest as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries)) throw new ManifestError("the UNLOAD manifest has no entries list");
  let offset = 0;
  return entries.map((e: unknown, index) => {
    const url = (e as { url?: unknown }).url;
    const rows = (e as { meta?: { record_count?: unknown } }).meta?.record_count;
    if (typeof url !== "string" || !url.startsWith(`s3://${bucket}/`)) throw new ManifestError(`manifest entry ${index + 1} is not a file of s3://${bucket}/: ${String(url)}`);
    if (typeof rows !== "number" || !Number.isInteger(rows) || rows < 0) throw new ManifestError(`manifest entry ${index + 1} has no record_count (UNLOAD must write MANIFEST VERBOSE)`);
    const segment = { index, bucket, key: url.slice(`s3://${bucket}/`.length), rows, rowOffset: offset };
    offset += rows;
    return segment;
  });
}

/** What one segment did: its figures, and what mirror mode needs of it. */
export interface SegmentTally {
  index: number;
  rowsRead: number;
  rejected: number;
  unchanged: number;
  enqueued: number;
  /** Rows whose users this run had settled before (a worker retried after it sent them): counted once, then. */
  settledEarlier?: number;
  messages: number;
  sqsRequests: number;
  rejectReasons: Partial<Record<RejectCode, number>>;
  /** Rows without a usable identity key (mirror mode: the run is then incomplete), and the first of them. */
  unkeyed: number;
  firstUnkeyedRow?: number;
}

/** One segment of a run, once its worker finished it (the ledger's record of it). */
export interface SegmentRecord {
  runId: string;
  tally: SegmentTally;
  finishedAt: string;
}

export type SegmentSum = Omit<SegmentTally, "index"> & {
  /** Segments done / all. */
  segmentsDone: number;
  segments: number;
  /** Why the sum is not the whole run (a segment missing, or rows read other than the manifest's): no deletes. */
  incomplete?: string;
};

/** The run's figures: the sum of its segments, each counted once, checked against the manifest's row counts. */
export function sumSegments(segments: Segment[], tallies: SegmentTally[]): SegmentSum {
  const byIndex = new Map(tallies.map((t) => [t.index, t]));
  const sum: SegmentSum = { rowsRead: 0, rejected: 0, unchanged: 0, enqueued: 0, settledEarlier: 0, messages: 0, sqsRequests: 0, rejectReasons: {}, unkeyed: 0, segmentsDone: 0, segments: segments.length };
  const missing: number[] = [];
  const short: number[] = [];
  for (const s of segments) {
    const t = byIndex.get(s.index);
    if (!t) {
      missing.push(s.index);
      continue;
    }
    sum.segmentsDone++;
    sum.rowsRead += t.rowsRead;
    sum.rejected += t.rejected;
    sum.unchanged += t.unchanged;
    sum.enqueued += t.enqueued;
    sum.settledEarlier! += t.settledEarlier ?? 0;
    sum.messages += t.messages;
    sum.sqsRequests += t.sqsRequests;
    sum.unkeyed += t.unkeyed;
    if (t.firstUnkeyedRow !== undefined) sum.firstUnkeyedRow = Math.min(sum.firstUnkeyedRow ?? Infinity, t.firstUnkeyedRow);
    for (const [code, n] of Object.entries(t.rejectReasons)) sum.rejectReasons[code as RejectCode] = (sum.rejectReasons[code as RejectCode] ?? 0) + (n ?? 0);
    if (t.rowsRead !== s.rows) short.push(s.index);
  }
  if (missing.length > 0) sum.incomplete = `${missing.length} of ${segments.length} segments did not finish (segment ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""})`;
  else if (short.length > 0) sum.incomplete = `segment ${short.slice(0, 5).join(", ")} read other than the manifest's row count`;
  return sum;
}

/** A key's 64-bit hash (the first 8 bytes of its SHA-256): what a segment records of every key it saw. */
export function keyHash64(key: string): bigint {
  return createHash("sha256").update(key, "utf8").digest().readBigUInt64BE(0);
}

/**
 * The run's presence over all its segments, from their key hashes: `has` is true for every key a row carried (a
 * hash collision can only make an absent user look present, never the reverse: mirror mode then spares it).
 */
export class HashedPresence implements Presence {
  private readonly sorted: BigUint64Array;

  constructor(
    hashes: Iterable<BigUint64Array>,
    private readonly unkeyed: number,
    private readonly firstUnkeyedRow?: number,
  ) {
    const parts = [...hashes];
    const all = new BigUint64Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    this.sorted = all.sort();
  }

  get size(): number {
    return this.sorted.length;
  }

  has(key: string): boolean {
    const h = keyHash64(key);
    let lo = 0;
    let hi = this.sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.sorted[mid] as bigint;
      if (v === h) return true;
      if (v < h) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** As RunPresence's: rows without a key make the absent users unknowable. */
  incompleteReason(identity: SyncConfig["identity"]): string | undefined {
    return unkeyedReason(identity, this.unkeyed, this.firstUnkeyedRow);
  }
}

/** A segment's keys as the page flow observes them: each as its 64-bit hash, and the rows without one. */
export class SegmentPresence implements PresenceRecorder {
  private hashes: bigint[] = [];
  unkeyed = 0;
  firstUnkeyedRow?: number;

  observe(key: string | undefined, row: number): void {
    if (key !== undefined) this.hashes.push(keyHash64(key));
    else {
      this.unkeyed++;
      this.firstUnkeyedRow ??= row;
    }
  }

  /** The hashes seen, sorted (a keys file sorts and compresses better, and reads back as it is). */
  sortedHashes(): BigUint64Array {
    return BigUint64Array.from(this.hashes).sort();
  }
}

/** A segment's key hashes as the bytes of its keys file (8 bytes each, big-endian), and back. */
export function hashesToBytes(hashes: BigUint64Array): Uint8Array {
  const out = new Uint8Array(hashes.length * 8);
  const view = new DataView(out.buffer);
  hashes.forEach((h, i) => view.setBigUint64(i * 8, h));
  return out;
}

export function bytesToHashes(bytes: Uint8Array): BigUint64Array {
  if (bytes.length % 8 !== 0) throw new ManifestError(`a keys file of ${bytes.length} bytes is not a list of 8-byte hashes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new BigUint64Array(bytes.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = view.getBigUint64(i * 8);
  return out;
}
