/**
 * The page flow: what happens to a page of rows before anything is sent. Each row is recorded as present (mirror
 * mode), mapped to its desired profile or rejected with a reason (core/profile.ts), checked against the run's
 * earlier rows (a key or an email twice), fingerprinted, and checked against the ledger: a row whose profile the
 * ledger says is applied is counted unchanged and costs nothing; the others come out as operations to send. The
 * extractor runs it over the Data API's pages; `auth0-sync plan` through the extractor's dry run; a segment of an
 * unloaded table would run it over its file's part.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { SyncConfig } from "../core/config.js";
import { isApplied, ownsEmail, settledInRun } from "../core/decide.js";
import { fingerprint } from "../core/fingerprint.js";
import type { PresenceRecorder } from "../core/mirror.js";
import type { SyncOperation } from "../core/operations.js";
import type { OutcomeSink, RunAccounting } from "../core/outcomes.js";
import { ProfileMapper } from "../core/profile.js";
import { AppliedFingerprints, RunDuplicates } from "../core/run-indexes.js";
import type { Rejection, Row } from "../core/types.js";
import { scanSegments, unchangedCheckFor, type UnchangedCheckMode } from "../core/unchanged-check.js";
import type { UserLedger } from "../adapters/ledger/users.js";

export interface PageFlowDeps {
  config: SyncConfig;
  logger: Pick<Logger, "warn" | "info">;
  /** The ledger's identity entries: the unchanged check and the duplicate-email owner read them. */
  ledger?: UserLedger;
  onOutcome?: OutcomeSink;
}

/** The first rejections of a run (at most this many are kept for a human reading the result). */
const SAMPLE_REJECTIONS = 20;

export class PageFlow {
  private readonly mapper: ProfileMapper;
  private readonly duplicates = new RunDuplicates();
  private rowNumber = 0;
  /** The first rejections, for a human reading the result. */
  readonly samples: Rejection[] = [];
  unchanged = 0;
  /** The ledger's applied fingerprints, read up front (a Scan); absent: each page's rows are looked up. */
  applied?: AppliedFingerprints;
  /** Operations whose key the ledger has never seen: new users, which an import job may create (import-router.ts). */
  readonly firstSeen = new WeakSet<SyncOperation>();

  constructor(
    private readonly deps: PageFlowDeps,
    private readonly runId: string,
    private readonly accounting: RunAccounting,
    private readonly presence?: PresenceRecorder,
    /** Rows before this flow's first (a segment of an unloaded table): rows are numbered as in the whole run. */
    rowOffset = 0,
  ) {
    this.mapper = new ProfileMapper(deps.config);
    this.rowNumber = rowOffset;
  }

  /** A page's rows: rejections and unchanged rows are recorded here; the operations to send are returned. */
  async rows(rows: Row[]): Promise<SyncOperation[]> {
    const ops: SyncOperation[] = [];
    for (const row of rows) {
      const n = ++this.rowNumber;
      this.accounting.read();
      // Mirror mode: every key a row carries, recorded before the row is validated (see core/mirror.ts).
      this.presence?.observe(this.mapper.identityKey(row), n);
      const mapped = this.mapper.map(row, n);
      if (!mapped.ok) {
        this.reject(mapped.rejection);
        continue;
      }
      const { profile } = mapped;
      const keyLabel = this.mapper.keyLabel(profile.key);
      let dup = this.duplicates.check(profile, n, keyLabel);
      // Of two rows with one email under two keys, the row whose key the ledger maps to that email wins (core's).
      if (dup?.code === "duplicate_email" && this.deps.ledger && ownsEmail((await this.deps.ledger.getMany([profile.key])).get(profile.key), profile.email)) dup = undefined;
      if (dup) {
        // The key of a duplicate is shared with an earlier row; report it under the row, not the key.
        this.reject(dup);
        continue;
      }
      ops.push({ kind: "sync", row: n, keyLabel, fingerprint: fingerprint(profile), desired: profile });
    }
    return this.changed(ops);
  }

  private reject(r: Rejection): void {
    this.accounting.record("rejected", { code: r.code });
    if (this.samples.length < SAMPLE_REJECTIONS) this.samples.push(r);
    // Hashed key only: the key may be an email, and logs never carry one. (A rejected row's key is not the ledger's.)
    this.deps.logger.warn("row rejected", { row: r.row, code: r.code, field: r.field, reason: r.reason });
    this.deps.onOutcome?.({ runId: this.runId, key: `row:${r.row}`, keyLabel: r.keyLabel, row: r.row, outcome: "rejected", rejection: r });
  }

  /** Rows whose desired profile is what the ledger says was applied are counted here, never sent. */
  private async changed(ops: SyncOperation[]): Promise<SyncOperation[]> {
    if (!this.deps.ledger || ops.length === 0) return ops;
    const out: SyncOperation[] = [];
    const unchanged = (op: SyncOperation, userId?: string) => {
      this.unchanged++;
      this.accounting.record("unchanged");
      this.deps.onOutcome?.({ runId: this.runId, key: op.desired.key, keyLabel: op.keyLabel, row: op.row, outcome: "unchanged", userId });
    };
    // Applied by this very run (a segment retried, a read resumed): its outcome was counted when it was settled.
    const earlier = () => this.accounting.settleEarlier();
    if (this.applied) {
      for (const op of ops) {
        if (!this.applied.isApplied(op.desired.key, op.fingerprint)) {
          out.push(op);
          if (!this.applied.known(op.desired.key)) this.firstSeen.add(op);
        } else if (this.applied.settledInRun(op.desired.key)) earlier();
        else unchanged(op);
      }
      return out;
    }
    const known = await this.deps.ledger.getMany(ops.map((o) => o.desired.key));
    for (const op of ops) {
      const e = known.get(op.desired.key);
      if (!isApplied(e, op.fingerprint)) {
        out.push(op);
        if (e === undefined) this.firstSeen.add(op);
      } else if (settledInRun(e, this.runId)) earlier();
      else unchanged(op, e.userId);
    }
    return out;
  }
}

/**
 * The applied fingerprints read with one Scan, or nothing when this run looks its rows up instead (the core's
 * policy: core/unchanged-check.ts, from the rows expected and the ledger's size).
 */
export async function loadAppliedFingerprints(ledger: UserLedger, runId: string, mode: UnchangedCheckMode, expectedRows: number, logger: Pick<Logger, "warn" | "info">): Promise<AppliedFingerprints | undefined> {
  if (mode === "lookup") return undefined;
  const started = Date.now();
  let ledgerItems: number | undefined;
  try {
    ledgerItems = await ledger.approximateItemCount();
  } catch (err) {
    // Sizing is an optimisation: without it (e.g. an operator's role lacking DescribeTable) rows are looked up.
    logger.warn("unchanged check: the ledger's size is unknown, looking rows up", { error: err instanceof Error ? err.message : String(err) });
  }
  if (unchangedCheckFor(mode, expectedRows, ledgerItems) === "lookup") {
    logger.info("unchanged check", { method: "lookup", expectedRows, ledgerItems });
    return undefined;
  }
  const index = new AppliedFingerprints();
  await ledger.scanFingerprints((item) => {
    if (item.fingerprint !== undefined && isApplied(item, item.fingerprint)) index.add(item.key, item.fingerprint, settledInRun(item, runId));
    else index.addSeen(item.key);
  }, scanSegments(ledgerItems ?? 0));
  logger.info("unchanged check", { method: "scan", expectedRows, ledgerItems, applied: index.size, ms: Date.now() - started });
  return index;
}
