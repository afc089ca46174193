/**
 * What mirror mode may touch. A managed user is absent only when no row of the run carries its key, whatever
 * became of the rows that do (rejected by validation, a duplicate, rejected by Auth0, dead-lettered): one bad
 * import in the warehouse must never block or delete the people it still lists. A row with no usable key could be
 * any managed user, so while one exists the run cannot know who is absent and mirror mode does nothing.
 */
import type { SyncConfig } from "./config.js";
import type { MirrorOperation } from "./operations.js";
import { hashKey } from "./profile.js";
import type { LedgerEntry } from "./records.js";

/** What mirror mode asks of a run's rows: whether a key was carried, and whether the absent users can be known. */
export interface Presence {
  has(key: string): boolean;
  incompleteReason(identity: SyncConfig["identity"]): string | undefined;
}

/** What the page flow tells a presence of every row, before the row is validated. */
export interface PresenceRecorder {
  observe(key: string | undefined, row: number): void;
}

/** Why rows without a usable key make a run's absent users unknowable (no approval overrides it). */
export function unkeyedReason(identity: SyncConfig["identity"], unkeyed: number, firstUnkeyedRow: number | undefined): string | undefined {
  if (unkeyed === 0) return undefined;
  const what = identity.keyColumn
    ? `an empty or invalid identity key (${identity.keyColumn})`
    : `an empty or invalid email (${identity.emailColumn}), which is the identity`;
  const rows = unkeyed === 1 ? `1 row has ${what}: row ${firstUnkeyedRow}` : `${unkeyed} rows have ${what}, the first at row ${firstUnkeyedRow}`;
  return `${rows}; such a row could be any managed user, so nobody is blocked or deleted until it is fixed`;
}

/** The keys the rows of one run carry, recorded before any row is validated. */
export class RunPresence implements Presence, PresenceRecorder {
  private readonly keys = new Set<string>();
  /** Rows without a usable identity key, and the first of them. */
  unkeyed = 0;
  firstUnkeyedRow?: number;

  /** Records a row: its identity key (see `ProfileMapper.identityKey`), or undefined when it has none. */
  observe(key: string | undefined, row: number): void {
    if (key !== undefined) {
      this.keys.add(key);
      return;
    }
    this.unkeyed++;
    this.firstUnkeyedRow ??= row;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Why this run's absent users cannot be known, or undefined when they can. No approval overrides it. */
  incompleteReason(identity: SyncConfig["identity"]): string | undefined {
    return unkeyedReason(identity, this.unkeyed, this.firstUnkeyedRow);
  }
}

/** What mirror mode does after a complete extract: the managed users absent from it, and whether it is held. */
export interface MirrorPlan {
  /** The blocks and deletes to send: none when held. */
  ops: MirrorOperation[];
  /** Managed users absent from the run, by planned action. */
  absent: number;
  block: number;
  delete: number;
  held: boolean;
  heldReason?: string;
  /** Managed users in the ledger. */
  managed: number;
}

/**
 * Managed users absent from this run become block or delete operations, unless there are more of them than the
 * threshold allows (by count or by share of managed users): then nothing at all is done and the run is held. Rows
 * without a usable key hide who is absent: held whatever the threshold and any approval. The ledger's entries are
 * given one by one (`consider`), so a large ledger is never held in memory.
 */
export class MirrorPlanner {
  private readonly ignore: Set<string>;
  private readonly ops: MirrorOperation[] = [];
  private managed = 0;
  private block = 0;
  private del = 0;

  constructor(
    private readonly config: Pick<SyncConfig, "mirror" | "identity">,
    private readonly presence: Presence,
    private readonly now = Date.now(),
  ) {
    this.ignore = new Set(config.mirror.ignore.map((x) => x.toLowerCase()));
  }

  consider(e: LedgerEntry): void {
    if (!e.managed || !e.userId) return;
    this.managed++;
    if (this.presence.has(e.key)) return;
    if (this.ignore.has(e.key.toLowerCase()) || (e.profile?.email && this.ignore.has(e.profile.email))) return;
    const kind = mirrorAction(this.config.mirror, e, this.now);
    if (!kind) return;
    this.ops.push({ kind, key: e.key, keyLabel: this.config.identity.keyColumn ? e.key : `#${hashKey(e.key)}`, userId: e.userId });
    if (kind === "block") this.block++;
    else this.del++;
  }

  /** The plan, once every entry was considered; `approved` lets a run over the threshold through (never an incomplete one). */
  result(approved: boolean): MirrorPlan {
    const m = this.config.mirror;
    const { ops, managed } = this;
    const share = managed > 0 ? ops.length / managed : 0;
    const over = ops.length > m.threshold.maxCount || share > m.threshold.maxShare;
    const incomplete = this.presence.incompleteReason(this.config.identity);
    const overThreshold = over && !(m.approve || approved);
    const held = incomplete !== undefined || overThreshold;
    const heldReason = incomplete
      ? `absent users cannot be known: ${incomplete}.`
      : overThreshold
        ? `${ops.length} of ${managed} managed users (${(share * 100).toFixed(1)}%) are absent; the threshold is ${m.threshold.maxCount} users or ${(m.threshold.maxShare * 100).toFixed(1)}%. Nothing was blocked or deleted: if the table is right, approve with 'auth0-sync run --approve-mirror' (or mirror.approve: true).`
        : undefined;
    return { ops: held ? [] : [...ops], absent: ops.length, block: this.block, delete: this.del, held, heldReason, managed };
  }
}

/** What mirror mode does to one absent managed user: block it, delete it, or (block-then-delete) nothing yet. */
function mirrorAction(m: SyncConfig["mirror"], e: LedgerEntry, now: number): "block" | "delete" | undefined {
  if (m.action === "delete") return "delete";
  if (m.action === "block") return e.blockedAt ? undefined : "block";
  if (!e.blockedAt) return "block";
  return now - Date.parse(e.blockedAt) >= m.deleteAfterDays * 86_400_000 ? "delete" : undefined;
}
