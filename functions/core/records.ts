/**
 * What the sync ledger keeps, as the domain sees it: one entry per identity key (what the sync applied to which
 * Auth0 user), one record per run and per finished reconcile, and the reconcile whose export job is in flight. The
 * DynamoDB adapter (adapters/ledger) stores and reads these; the flows and the core decide with them.
 */
import type { Outcome } from "./outcomes.js";
import type { RunStatus, RunSummary } from "./runs.js";
import type { DesiredProfile, Json, ObservedUser } from "./types.js";

export interface LedgerEntry {
  key: string;
  userId?: string;
  fingerprint?: string;
  /** The desired profile last applied: the base of the next minimal patch, without reading Auth0. */
  profile?: DesiredProfile;
  /** A reconcile's seed: the user as the export showed it, before any row was applied (core/decide.ts). */
  observed?: ObservedUser;
  /** Created or adopted by this sync: only managed users are ever blocked or deleted by mirror mode. */
  managed: boolean;
  lastRunSeen?: string;
  lastOutcome?: Outcome;
  lastReason?: string;
  /** When mirror mode blocked the user (block-then-delete counts from here). */
  blockedAt?: string;
  /** The last passing failure (a retry), for the operator reading the DLQ: no email, no token. */
  lastError?: string;
  lastErrorAt?: string;
  /** A delivery that sent a create for this key failed before it recorded the user (its create may have landed). */
  createAttemptedAt?: string;
  updatedAt?: string;
}

/** What the unchanged check reads of every entry (a projection of it, scanned in one pass). */
export type FingerprintItem = Pick<LedgerEntry, "key" | "userId" | "managed" | "fingerprint" | "blockedAt" | "lastRunSeen" | "lastOutcome">;

/** A reconcile whose export job is still running. */
export interface ReconcileJob {
  reconcileId: string;
  jobId: string;
  startedAt: string;
}

/** What the ledger keeps of a finished reconcile: its figures and the first users' drift, per field (emails masked). */
export interface ReconcileRecord {
  reconcileId: string;
  finishedAt: string;
  dryRun: boolean;
  /** The reconcile's figures; `repairsQueued` (`repaired` in records written before it was named so) are sent, not applied. */
  figures: Record<string, number>;
  drift: { keyLabel: string; userId: string; kind: string; repaired: boolean; fields: { field: string; before?: Json; after?: Json }[] }[];
  /** The queued repairs the consumers settled so far, by outcome (counted under the reconcile's id, as a run's users are). */
  repairOutcomes?: Partial<Record<Outcome, number>>;
}

export interface RunRecord {
  runId: string;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  summary?: RunSummary;
  /** Why a run was held, for the operator who approves it. */
  heldReason?: string;
  /** Why the extract failed. */
  error?: string;
  /** Why the run did not start (another extract holds the lock, or the previous run still drains). */
  skippedReason?: string;
  /** Users settled by the consumers for this run, by outcome (each user counted once, redeliveries not). */
  counts?: Partial<Record<Outcome, number>>;
  /** A run over an unloaded table: its segments finished / in all, as the workers finish them. */
  segments?: { done: number; total: number };
  /** New users created through Auth0 import jobs: the jobs submitted and the users they created. */
  imports?: { jobs: number; users: number };
}

/** One user the watch acted on, as `auth0-sync status` shows it (emails masked by the core's judgement). */
export interface WatchNote {
  at: string;
  keyLabel?: string;
  userId: string;
  action: string;
  /** The fields that had drifted (for `repaired`, `reported` and `fight`). */
  fields: string[];
  /** Who made the write (client names, or ids). */
  clients: string[];
  /** Seconds from the earliest write to the repair being queued. */
  lagSeconds?: number;
}

/** What the ledger keeps of the watch: its counts since deployment and its latest notes (newest first). */
export interface WatchRecord {
  counts: Record<string, number>;
  lastEventAt?: string;
  recent: WatchNote[];
}
