/**
 * The ledger's identity entries in DynamoDB: one item per identity key (the Auth0 user id, the fingerprint and
 * profile last applied, the managed marker, the last outcome and reason). It reads and writes them; which entries
 * count as applied, absent or stale is decided in core (core/decide.ts, core/mirror.ts, core/row-claims.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, BatchWriteCommand, type BatchWriteCommandInput, type BatchWriteCommandOutput, DeleteCommand, GetCommand, PutCommand, ScanCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { IDENTITY_PREFIX, fitsLedger } from "../../core/ledger-keys.js";
import type { Outcome } from "../../core/outcomes.js";
import type { FingerprintItem, LedgerEntry } from "../../core/records.js";
import type { DesiredProfile, ObservedUser } from "../../core/types.js";
import { BATCH_ATTEMPTS, type LedgerTable } from "./table.js";

/** One table's share of a BatchWriteItem request (and of its unprocessed items). */
type WriteRequests = NonNullable<BatchWriteCommandInput["RequestItems"]>[string];

/** BatchGetItem requests in flight at once for one getMany. */
const GET_CONCURRENCY = 4;

export class UserLedger {
  constructor(private readonly t: LedgerTable) {}

  // The profile is stored as JSON text: metadata may hold numbers DynamoDB cannot store (beyond 38 digits of
  // precision, or below 1e-130), and text keeps them exactly as Auth0 received them.
  private toItem(e: LedgerEntry): Record<string, unknown> {
    const { key, profile, observed, ...rest } = e;
    const text = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));
    return { pk: IDENTITY_PREFIX + key, ...rest, profile: text(profile), observed: text(observed), updatedAt: e.updatedAt ?? new Date().toISOString() };
  }

  private fromItem(item: Record<string, unknown>): LedgerEntry {
    const { pk, profile, observed, ...rest } = item;
    // (Entries written before profiles were text hold a map.)
    const parsed = typeof profile === "string" ? (JSON.parse(profile) as DesiredProfile) : (profile as DesiredProfile | undefined);
    const seen = typeof observed === "string" ? (JSON.parse(observed) as ObservedUser) : undefined;
    return { key: String(pk).slice(IDENTITY_PREFIX.length), ...(rest as Omit<LedgerEntry, "key" | "profile" | "observed">), ...(parsed ? { profile: parsed } : {}), ...(seen ? { observed: seen } : {}) };
  }

  private key(key: string) {
    return { pk: IDENTITY_PREFIX + key };
  }

  /**
   * Entries by key (missing keys are simply absent), 100 keys per BatchGetItem with a few requests in flight,
   * unprocessed keys retried. A key too long to be a DynamoDB key cannot have an entry: absent, never a failed read.
   */
  async getMany(keys: string[]): Promise<Map<string, LedgerEntry>> {
    const { doc, tableName, stats } = this.t;
    const out = new Map<string, LedgerEntry>();
    const unique = [...new Set(keys)].filter(fitsLedger);
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += 100) chunks.push(unique.slice(i, i + 100));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        let request: Record<string, unknown>[] | undefined = chunks[next++]!.map((k) => this.key(k));
        for (let attempt = 0; request && request.length > 0; attempt++) {
          if (attempt > BATCH_ATTEMPTS) throw new Error(`ledger: ${request.length} keys still unprocessed after ${attempt} attempts`);
          if (attempt > 0) await sleep(50 * 2 ** attempt);
          stats.requests++;
          const res = await doc.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: request, ConsistentRead: true } } }));
          for (const item of res.Responses?.[tableName] ?? []) {
            const e = this.fromItem(item);
            out.set(e.key, e);
            stats.reads++;
          }
          request = res.UnprocessedKeys?.[tableName]?.Keys as Record<string, unknown>[] | undefined;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(GET_CONCURRENCY, chunks.length) }, worker));
    return out;
  }

  /**
   * What the unchanged check reads of every entry (key, user id, managed, fingerprint, blocked), with a parallel Scan
   * that projects only that: for a run that reads most of the ledger, far fewer requests (and read units) than
   * looking each row up. Which of them count as applied is the core's (isApplied).
   */
  async scanFingerprints(onItem: (item: FingerprintItem) => void, segments = 4): Promise<void> {
    const scanSegment = async (segment: number) => {
      for await (const item of this.identityItems({ Segment: segment, TotalSegments: segments, ProjectionExpression: "pk, userId, managed, fingerprint, blockedAt, lastRunSeen, lastOutcome" })) {
        this.t.stats.reads++;
        onItem({
          key: String(item.pk).slice(IDENTITY_PREFIX.length),
          userId: typeof item.userId === "string" ? item.userId : undefined,
          managed: item.managed === true,
          fingerprint: typeof item.fingerprint === "string" ? item.fingerprint : undefined,
          blockedAt: typeof item.blockedAt === "string" ? item.blockedAt : undefined,
          lastRunSeen: typeof item.lastRunSeen === "string" ? item.lastRunSeen : undefined,
          lastOutcome: typeof item.lastOutcome === "string" ? (item.lastOutcome as FingerprintItem["lastOutcome"]) : undefined,
        });
      }
    };
    await Promise.all(Array.from({ length: segments }, (_, i) => scanSegment(i)));
  }

  /** DynamoDB's item count of the table (refreshed about every six hours; 0 for a new table). */
  async approximateItemCount(): Promise<number> {
    this.t.stats.requests++;
    const res = await this.t.client.send(new DescribeTableCommand({ TableName: this.t.tableName }));
    return res.Table?.ItemCount ?? 0;
  }

  async get(key: string): Promise<LedgerEntry | undefined> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: this.key(key), ConsistentRead: true }));
    return res.Item ? this.fromItem(res.Item) : undefined;
  }

  /** Writes an entry; returns what the entry said of the run that last settled it before (see `Previous`). */
  async put(e: LedgerEntry): Promise<Previous> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    const res = await this.t.doc.send(new PutCommand({ TableName: this.t.tableName, Item: this.toItem(e), ReturnValues: "ALL_OLD" }));
    return previousOf(res.Attributes);
  }

  /** Writes whole entries, 25 per BatchWriteItem, unprocessed items retried. */
  async putMany(entries: LedgerEntry[]): Promise<void> {
    const { doc, tableName, stats } = this.t;
    for (let i = 0; i < entries.length; i += 25) {
      let request: WriteRequests | undefined = entries.slice(i, i + 25).map((e) => ({ PutRequest: { Item: this.toItem(e) } }));
      for (let attempt = 0; request && request.length > 0; attempt++) {
        if (attempt > BATCH_ATTEMPTS) throw new Error(`ledger: ${request.length} writes still unprocessed after ${attempt} attempts`);
        if (attempt > 0) await sleep(50 * 2 ** attempt);
        stats.requests++;
        const res: BatchWriteCommandOutput = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: request } }));
        request = res.UnprocessedItems?.[tableName];
      }
      stats.writes += Math.min(25, entries.length - i);
    }
  }

  /** Records an outcome without touching the rest of the entry (e.g. a rejection of a key with no user yet). */
  async recordOutcome(key: string, outcome: Outcome, reason?: string, runId?: string): Promise<Previous> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    const res = await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: this.key(key),
        UpdateExpression: `SET lastOutcome = :o, lastReason = :r, updatedAt = :t, managed = if_not_exists(managed, :f)${runId ? ", lastRunSeen = :run" : ""}`,
        ExpressionAttributeValues: { ":o": outcome, ":r": reason ?? null, ":t": new Date().toISOString(), ":f": false, ...(runId ? { ":run": runId } : {}) },
        ReturnValues: "UPDATED_OLD",
      }),
    );
    return previousOf(res.Attributes);
  }

  /** Records why a user will be retried (what `status` shows next to a dead-lettered message); `createAttempted` when the failed delivery had sent a create for it. */
  async recordFailure(key: string, error: string, opts: { createAttempted?: boolean } = {}): Promise<void> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    const t = new Date().toISOString();
    const attempted = opts.createAttempted ? ", createAttemptedAt = if_not_exists(createAttemptedAt, :t)" : "";
    await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: this.key(key),
        UpdateExpression: `SET lastError = :e, lastErrorAt = :t, updatedAt = :t, managed = if_not_exists(managed, :f)${attempted}`,
        ExpressionAttributeValues: { ":e": error.slice(0, 500), ":t": t, ":f": false },
      }),
    );
  }

  /** Deletes an entry; `existed` is false when another delivery had deleted it already. */
  async delete(key: string): Promise<Previous & { existed: boolean }> {
    this.t.stats.requests++;
    this.t.stats.writes++;
    const res = await this.t.doc.send(new DeleteCommand({ TableName: this.t.tableName, Key: this.key(key), ReturnValues: "ALL_OLD" }));
    return { ...previousOf(res.Attributes), existed: res.Attributes !== undefined };
  }

  /** Removes a reconcile's seed, unless a row was applied to the key meanwhile (then the entry is the sync's). */
  async deleteSeed(key: string): Promise<void> {
    this.t.stats.requests++;
    await this.t.conditionally(() => this.t.doc.send(new DeleteCommand({ TableName: this.t.tableName, Key: this.key(key), ConditionExpression: "attribute_not_exists(profile)" })));
  }

  /** Every identity entry, page by page (mirror mode and the reconcile read them). */
  async *all(): AsyncGenerator<LedgerEntry> {
    for await (const item of this.identityItems({})) yield this.fromItem(item);
  }

  /** The identity items (not runs, not the lock) of a consistent Scan, or of one segment of a parallel one. */
  private async *identityItems(scan: { Segment?: number; TotalSegments?: number; ProjectionExpression?: string }): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    do {
      this.t.stats.requests++;
      const res = await this.t.doc.send(
        new ScanCommand({
          TableName: this.t.tableName,
          ...scan,
          ExclusiveStartKey: start,
          FilterExpression: "begins_with(pk, :p)",
          ExpressionAttributeValues: { ":p": IDENTITY_PREFIX },
          ConsistentRead: true,
        }),
      );
      yield* res.Items ?? [];
      start = res.LastEvaluatedKey;
    } while (start);
  }
}

/**
 * What an entry said before a write replaced it: the run that last settled the key and how. Read in the same
 * request as the write, so two deliveries of one user racing in one run can tell which of them settled it first.
 */
export interface Previous {
  lastRunSeen?: string;
  lastOutcome?: Outcome;
}

function previousOf(item: Record<string, unknown> | undefined): Previous {
  return {
    lastRunSeen: typeof item?.lastRunSeen === "string" ? item.lastRunSeen : undefined,
    lastOutcome: typeof item?.lastOutcome === "string" ? (item.lastOutcome as Outcome) : undefined,
  };
}
