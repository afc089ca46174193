/**
 * What travels from the extractor (or the reconcile) to the consumers, one operation per user, and what the user
 * flow makes of each. The queue's message schema (adapters/sqs/message.ts) accepts exactly these types.
 */
import type { Outcome } from "./outcomes.js";
import type { LedgerEntry } from "./records.js";
import type { DesiredProfile, ObservedUser, Rejection } from "./types.js";

/** A row to sync: its desired profile and fingerprint; a reconcile's repair also carries the user it observed. */
export interface SyncOperation {
  kind: "sync";
  /** Row number in the run, for reasons that name the row. */
  row: number;
  /** Safe label of the key (the key, or a hash when the identity is the email). */
  keyLabel: string;
  fingerprint: string;
  desired: DesiredProfile;
  /** A reconcile's repair: the user as the export showed it, or null when Auth0 no longer holds it. */
  observed?: ObservedUser | null;
}

/** Mirror mode: a managed user absent from the run, to block or delete. */
export interface MirrorOperation {
  kind: "block" | "delete";
  key: string;
  keyLabel: string;
  userId: string;
}

export type UserOperation = SyncOperation | MirrorOperation;

/** The identity key an operation is about. */
export const opKey = (op: UserOperation): string => (op.kind === "sync" ? op.desired.key : op.key);

/** Where an operation is in the run, for a reason or a log line: its row, or its kind and key label. */
export const opWhere = (op: UserOperation): string => (op.kind === "sync" ? `row ${op.row}` : `${op.kind} ${op.keyLabel}`);

/** The outcomes a consumer settles (a dead-lettered user never reaches one). */
export type Settled = Exclude<Outcome, "deadLettered">;

/**
 * What one operation came to: an outcome (with the ledger entry to write: an entry, null to delete it, or nothing),
 * or a retry with why (and whether the failed attempt had sent a create, which a later 409 must know).
 */
export type OpResult =
  | { outcome: Settled; userId?: string; rejection?: Rejection; entry?: LedgerEntry | null; createSent?: boolean }
  | { retry: string; createAttempted?: boolean }
  /** Created with this id; its roles and memberships go to the writes queue, where its outcome is recorded (core/created-writes.ts). */
  | { deferred: string };
