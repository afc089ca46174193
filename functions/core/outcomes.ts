/**
 * Every row read ends in exactly one recorded outcome. The accounting structure makes that checkable:
 * rowsRead + absent = unchanged + created + updated + blocked + deleted + rejected + deadLettered + inFlight, where
 * `absent` counts the managed users mirror mode found missing from the run (they are read from the ledger).
 */
import type { RejectCode, Rejection } from "./types.js";

export const OUTCOMES = ["created", "updated", "unchanged", "blocked", "deleted", "rejected", "deadLettered"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface AccountingSnapshot {
  rowsRead: number;
  absent: number;
  created: number;
  updated: number;
  unchanged: number;
  blocked: number;
  deleted: number;
  rejected: number;
  deadLettered: number;
  inFlight: number;
  /** Rows read again whose users this run had already settled (a retried segment, a resumed read): counted once, before. */
  settledEarlier: number;
  unaccounted: number;
  rejectReasons: Partial<Record<RejectCode, number>>;
}

export class RunAccounting {
  rowsRead = 0;
  /** Managed users absent from the run (mirror mode), read from the ledger: each also ends in one outcome. */
  absent = 0;
  inFlight = 0;
  /** Rows whose users this run settled before it read them again (their outcome counted then, not now). */
  settledEarlier = 0;
  private readonly counts: Record<Outcome, number> = {
    created: 0,
    updated: 0,
    unchanged: 0,
    blocked: 0,
    deleted: 0,
    rejected: 0,
    deadLettered: 0,
  };
  private readonly reasons = new Map<RejectCode, number>();

  read(n = 1): void {
    this.rowsRead += n;
  }

  addAbsent(n = 1): void {
    this.absent += n;
  }

  /** Rows read again whose users an earlier attempt of this run settled: no second outcome. */
  settleEarlier(n = 1): void {
    this.settledEarlier += n;
  }

  /** Rows handed on (enqueued) whose outcome is not known yet. */
  dispatch(n = 1): void {
    this.inFlight += n;
  }

  /** Records an outcome. `fromFlight` settles a row that was dispatched earlier. */
  record(outcome: Outcome, opts: { n?: number; fromFlight?: boolean; code?: RejectCode } = {}): void {
    const n = opts.n ?? 1;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`outcome count must be a whole number, got ${n}`);
    this.counts[outcome] += n;
    if (opts.fromFlight) {
      if (n > this.inFlight) throw new RangeError(`cannot settle ${n} rows: only ${this.inFlight} in flight`);
      this.inFlight -= n;
    }
    if (outcome === "rejected" && opts.code) this.reasons.set(opts.code, (this.reasons.get(opts.code) ?? 0) + n);
  }

  count(outcome: Outcome): number {
    return this.counts[outcome];
  }

  get settled(): number {
    return OUTCOMES.reduce((sum, o) => sum + this.counts[o], 0);
  }

  /** Rows with no outcome and not in flight: must be 0. Negative means an outcome was recorded twice. */
  get unaccounted(): number {
    return this.rowsRead + this.absent - this.settled - this.inFlight - this.settledEarlier;
  }

  /** Rejection codes, most frequent first. */
  topReasons(limit = 5): [RejectCode, number][] {
    return [...this.reasons.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit);
  }

  snapshot(): AccountingSnapshot {
    return {
      rowsRead: this.rowsRead,
      absent: this.absent,
      ...this.counts,
      inFlight: this.inFlight,
      settledEarlier: this.settledEarlier,
      unaccounted: this.unaccounted,
      rejectReasons: Object.fromEntries(this.reasons),
    };
  }

  /** Adds another part's figures (e.g. each consumer invocation's) into this one. */
  merge(other: AccountingSnapshot): void {
    this.rowsRead += other.rowsRead;
    this.absent += other.absent ?? 0;
    this.inFlight += other.inFlight;
    this.settledEarlier += other.settledEarlier;
    for (const o of OUTCOMES) this.counts[o] += other[o];
    for (const [code, n] of Object.entries(other.rejectReasons)) {
      this.reasons.set(code as RejectCode, (this.reasons.get(code as RejectCode) ?? 0) + (n ?? 0));
    }
  }
}

/** One row's outcome as a stage reports it (the extractor for rejects, the consumer for the rest). */
export interface OutcomeEvent {
  runId: string;
  key: string;
  keyLabel?: string;
  row?: number;
  outcome: Outcome;
  userId?: string;
  rejection?: Rejection;
}

export type OutcomeSink = (event: OutcomeEvent) => void;
