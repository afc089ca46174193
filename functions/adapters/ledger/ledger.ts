/**
 * The sync ledger in DynamoDB: one item per identity key (the Auth0 user id, the fingerprint and profile last
 * applied, the run that last saw it, the managed marker, the last outcome and reason) and one item per run with
 * its summary. It is what lets an unchanged row cost no Auth0 call and an update be one PATCH with no lookup.
 */
import { isApplied, type ObservedUser } from "../../core/decide.js";
import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, BatchWriteCommand, type BatchWriteCommandInput, type BatchWriteCommandOutput, DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { IDENTITY_PREFIX, RUNS_INDEX, fitsLedger } from "../../core/ledger-keys.js";
import { OUTCOMES, type Outcome } from "../../core/outcomes.js";
import { interruptedReason, isInterrupted, type RunStatus, type RunSummary } from "../../core/runs.js";
import type { DesiredProfile, Json } from "../../core/types.js";
import { setTimeout as sleep } from "node:timers/promises";

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
}


/** One table's share of a BatchWriteItem request (and of its unprocessed items). */
type WriteRequests = NonNullable<BatchWriteCommandInput["RequestItems"]>[string];

const KEY_PREFIX = IDENTITY_PREFIX;
const RUN_PREFIX = "R#";
/** A reconcile whose export job outlives one invocation: its job, so the next invocation continues it. */
const RECONCILE_JOB_KEY = "RECONCILE#job";
/** The last finished reconcile's figures, for `status`. */
const RECONCILE_LAST_KEY = "RECONCILE#last";
/** The run lock's item: at most one extract at a time. */
const LOCK_KEY = "LOCK#run";
const COUNT_PREFIX = "n_";
/** BatchGetItem requests in flight at once for one getMany. */
const GET_CONCURRENCY = 4;

/** Whether the ledger says a profile is applied as it stands: the core's decision, re-exported for the ledger's readers. */
export { isApplied };

export class Ledger {
  private readonly doc: DynamoDBDocumentClient;
  readonly stats = { reads: 0, writes: 0, requests: 0 };

  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true } });
  }

  // The profile is stored as JSON text: metadata may hold numbers DynamoDB cannot (beyond 38 digits of
  // precision, or below 1e-130), and text keeps them exactly as Auth0 received them.
  private toItem(e: LedgerEntry): Record<string, unknown> {
    const { key, profile, observed, ...rest } = e;
    // Profiles are JSON text: metadata may hold numbers DynamoDB cannot store (and they stay exactly as given).
    const text = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));
    return { pk: KEY_PREFIX + key, ...rest, profile: text(profile), observed: text(observed), updatedAt: e.updatedAt ?? new Date().toISOString() };
  }

  private fromItem(item: Record<string, unknown>): LedgerEntry {
    const { pk, profile, observed, ...rest } = item;
    // (Entries written before profiles were text hold a map.)
    const parsed = typeof profile === "string" ? (JSON.parse(profile) as DesiredProfile) : (profile as DesiredProfile | undefined);
    const seen = typeof observed === "string" ? (JSON.parse(observed) as ObservedUser) : undefined;
    return { key: String(pk).slice(KEY_PREFIX.length), ...(rest as Omit<LedgerEntry, "key" | "profile" | "observed">), ...(parsed ? { profile: parsed } : {}), ...(seen ? { observed: seen } : {}) };
  }

  /**
   * Entries by key (missing keys are simply absent), 100 keys per BatchGetItem with a few requests in flight,
   * unprocessed keys retried. A key too long to be a DynamoDB key cannot have an entry: absent, never a failed read.
   */
  async getMany(keys: string[]): Promise<Map<string, LedgerEntry>> {
    const out = new Map<string, LedgerEntry>();
    const unique = [...new Set(keys)].filter(fitsLedger);
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += 100) chunks.push(unique.slice(i, i + 100));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        let request: Record<string, unknown>[] | undefined = chunks[next++]!.map((k) => ({ pk: KEY_PREFIX + k }));
        for (let attempt = 0; request && request.length > 0; attempt++) {
          if (attempt > 8) throw new Error(`ledger: ${request.length} keys still unprocessed after ${attempt} attempts`);
          if (attempt > 0) await sleep(50 * 2 ** attempt);
          this.stats.requests++;
          const res = await this.doc.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: request, ConsistentRead: true } } }));
          for (const item of res.Responses?.[this.tableName] ?? []) {
            const e = this.fromItem(item);
            out.set(e.key, e);
            this.stats.reads++;
          }
          request = res.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(GET_CONCURRENCY, chunks.length) }, worker));
    return out;
  }

  /**
   * The key and fingerprint of every applied entry (see `isApplied`), read with a parallel Scan that projects
   * only what that check needs: for a run that reads most of the ledger, far fewer requests (and read units)
   * than looking each row up. Returns how many entries were applied.
   */
  async scanApplied(onEntry: (key: string, fingerprint: string) => void, segments = 4): Promise<number> {
    let applied = 0;
    const scanSegment = async (segment: number) => {
      for await (const item of this.identityItems({ Segment: segment, TotalSegments: segments, ProjectionExpression: "pk, userId, managed, fingerprint, blockedAt" })) {
        this.stats.reads++;
        const fp = item.fingerprint;
        if (typeof fp !== "string" || !isApplied(item as Pick<LedgerEntry, "userId" | "managed" | "fingerprint" | "blockedAt">, fp)) continue;
        applied++;
        onEntry(String(item.pk).slice(KEY_PREFIX.length), fp);
      }
    };
    await Promise.all(Array.from({ length: segments }, (_, i) => scanSegment(i)));
    return applied;
  }

  /** DynamoDB's item count of the table (refreshed about every six hours; 0 for a new table). */
  async approximateItemCount(): Promise<number> {
    this.stats.requests++;
    const res = await this.client.send(new DescribeTableCommand({ TableName: this.tableName }));
    return res.Table?.ItemCount ?? 0;
  }

  async get(key: string): Promise<LedgerEntry | undefined> {
    this.stats.requests++;
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: KEY_PREFIX + key }, ConsistentRead: true }));
    return res.Item ? this.fromItem(res.Item) : undefined;
  }

  async put(e: LedgerEntry): Promise<void> {
    this.stats.requests++;
    this.stats.writes++;
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: this.toItem(e) }));
  }

  /** Records an outcome without touching the rest of the entry (e.g. a rejection of a key with no user yet). */
  async recordOutcome(key: string, outcome: Outcome, reason?: string, runId?: string): Promise<void> {
    this.stats.requests++;
    this.stats.writes++;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: KEY_PREFIX + key },
        UpdateExpression: `SET lastOutcome = :o, lastReason = :r, updatedAt = :t, managed = if_not_exists(managed, :f)${runId ? ", lastRunSeen = :run" : ""}`,
        ExpressionAttributeValues: { ":o": outcome, ":r": reason ?? null, ":t": new Date().toISOString(), ":f": false, ...(runId ? { ":run": runId } : {}) },
      }),
    );
  }

  /** Records why a user will be retried (what `status` shows next to a dead-lettered message). */
  /** Records why a user will be retried; `createAttempted` when the failed delivery had sent a create for it. */
  async recordFailure(key: string, error: string, opts: { createAttempted?: boolean } = {}): Promise<void> {
    this.stats.requests++;
    this.stats.writes++;
    const t = new Date().toISOString();
    const attempted = opts.createAttempted ? ", createAttemptedAt = if_not_exists(createAttemptedAt, :t)" : "";
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: KEY_PREFIX + key },
        UpdateExpression: `SET lastError = :e, lastErrorAt = :t, updatedAt = :t, managed = if_not_exists(managed, :f)${attempted}`,
        ExpressionAttributeValues: { ":e": error.slice(0, 500), ":t": t, ":f": false },
      }),
    );
  }

  async delete(key: string): Promise<void> {
    this.stats.requests++;
    this.stats.writes++;
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: KEY_PREFIX + key } }));
  }

  /** Writes whole entries, 25 per BatchWriteItem, unprocessed items retried. */
  async putMany(entries: LedgerEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += 25) {
      let request: WriteRequests | undefined = entries.slice(i, i + 25).map((e) => ({ PutRequest: { Item: this.toItem(e) } }));
      for (let attempt = 0; request && request.length > 0; attempt++) {
        if (attempt > 8) throw new Error(`ledger: ${request.length} writes still unprocessed after ${attempt} attempts`);
        if (attempt > 0) await sleep(50 * 2 ** attempt);
        this.stats.requests++;
        const res: BatchWriteCommandOutput = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: request } }));
        request = res.UnprocessedItems?.[this.tableName];
      }
      this.stats.writes += Math.min(25, entries.length - i);
    }
  }

  /** Every identity entry, page by page (mirror mode reads the managed ones). */
  async *entries(): AsyncGenerator<LedgerEntry> {
    for await (const item of this.identityItems({})) yield this.fromItem(item);
  }

  /** The identity items (not runs, not the lock) of a consistent Scan, or of one segment of a parallel one. */
  private async *identityItems(scan: { Segment?: number; TotalSegments?: number; ProjectionExpression?: string }): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    do {
      this.stats.requests++;
      const res = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          ...scan,
          ExclusiveStartKey: start,
          FilterExpression: "begins_with(pk, :p)",
          ExpressionAttributeValues: { ":p": KEY_PREFIX },
          ConsistentRead: true,
        }),
      );
      yield* res.Items ?? [];
      start = res.LastEvaluatedKey;
    } while (start);
  }

  /** Writes a run's own fields; the consumers' counts on the same item are left alone. */
  async putRun(run: RunRecord): Promise<void> {
    this.stats.requests++;
    const { runId, counts: _counts, ...fields } = run;
    const set = Object.entries({ ...fields, [RUNS_INDEX.partitionKey]: RUNS_INDEX.value }).filter(([, v]) => v !== undefined);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: RUN_PREFIX + runId },
        UpdateExpression: `SET runId = :runId, ${set.map((_, i) => `#f${i} = :v${i}`).join(", ")}`,
        ExpressionAttributeNames: Object.fromEntries(set.map(([k], i) => [`#f${i}`, k])),
        ExpressionAttributeValues: { ":runId": runId, ...Object.fromEntries(set.map(([, v], i) => [`:v${i}`, v])) },
      }),
    );
  }

  /**
   * Takes the run lock for `ttlMs` (the extractor's timeout: a crashed extract cannot hold it longer). Returns
   * the run holding it when it is taken, else how many rows the last completed extract read (kept on the lock
   * item by `releaseRunLock`, read with the same request).
   */
  async acquireRunLock(
    runId: string,
    ttlMs: number,
    now = Date.now(),
  ): Promise<{ ok: true; lastRowsRead?: number; expiredHolder?: string } | { ok: false; heldBy: string }> {
    const old = await this.updateLock("SET lockRunId = :r, lockExpiresAt = :e", "attribute_not_exists(lockRunId) OR lockExpiresAt < :now", {
      ":r": runId,
      ":e": now + ttlMs,
      ":now": now,
    });
    if (old) {
      // A holder that never released the lock: its extractor stopped before the end (it is marked interrupted).
      const expiredHolder = typeof old.lockRunId === "string" && old.lockRunId !== runId ? old.lockRunId : undefined;
      return { ok: true, lastRowsRead: typeof old.lastRowsRead === "number" ? old.lastRowsRead : undefined, expiredHolder };
    }
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: LOCK_KEY }, ConsistentRead: true }));
    return { ok: false, heldBy: String(res.Item?.lockRunId ?? "another run") };
  }

  /** Releases the lock if this run holds it; a completed extract leaves its row count for the next one. */
  async releaseRunLock(runId: string, rowsRead?: number): Promise<void> {
    if (rowsRead === undefined) await this.updateLock("REMOVE lockRunId, lockExpiresAt", "lockRunId = :r", { ":r": runId });
    else await this.updateLock("REMOVE lockRunId, lockExpiresAt SET lastRowsRead = :n", "lockRunId = :r", { ":r": runId, ":n": rowsRead });
  }

  /** A conditional update of the lock item: its attributes before the update, or undefined when the condition does not hold. */
  private async updateLock(update: string, condition: string, values: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
    this.stats.requests++;
    try {
      const res = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: LOCK_KEY },
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
          ReturnValues: "ALL_OLD",
        }),
      );
      return res.Attributes ?? {};
    } catch (err) {
      if ((err as Error).name !== "ConditionalCheckFailedException") throw err;
      return undefined;
    }
  }

  /** The run holding the lock and until when, if any. */
  async runLock(): Promise<{ runId?: string; expiresAt?: number }> {
    this.stats.requests++;
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: LOCK_KEY }, ConsistentRead: true }));
    const item = res.Item ?? {};
    return { runId: typeof item.lockRunId === "string" ? item.lockRunId : undefined, expiresAt: typeof item.lockExpiresAt === "number" ? item.lockExpiresAt : undefined };
  }

  /**
   * Marks a run interrupted if its record still has one of `from` (by default: running; a run that ended meanwhile
   * keeps its status). A local run stopped while its users were applied passes its ended statuses too.
   */
  async markInterrupted(runId: string, reason: string, now = new Date(), from: RunStatus[] = ["running"]): Promise<boolean> {
    this.stats.requests++;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: RUN_PREFIX + runId },
          UpdateExpression: "SET #s = :i, finishedAt = :t, #e = :e",
          ConditionExpression: `#s IN (${from.map((_, i) => `:from${i}`).join(", ")})`,
          ExpressionAttributeNames: { "#s": "status", "#e": "error" },
          ExpressionAttributeValues: { ":i": "interrupted", ":t": now.toISOString(), ":e": reason, ...Object.fromEntries(from.map((f, i) => [`:from${i}`, f])) },
        }),
      );
      return true;
    } catch (err) {
      if ((err as Error).name !== "ConditionalCheckFailedException") throw err;
      return false;
    }
  }

  /**
   * The last runs, as `status` shows them: a run still recorded as running whose extractor no longer holds the run
   * lock (released, expired, or taken by a later run) stopped before the end, and is marked interrupted here.
   */
  async runsForStatus(limit = 10, now = Date.now()): Promise<RunRecord[]> {
    const runs = await this.runs(limit);
    if (!runs.some((r) => r.status === "running")) return runs;
    const lock = await this.runLock();
    for (const r of runs) {
      if (!isInterrupted(r, lock, now)) continue;
      const reason = interruptedReason(r.summary);
      if (await this.markInterrupted(r.runId, reason, new Date(now))) Object.assign(r, { status: "interrupted", error: reason, finishedAt: new Date(now).toISOString() });
    }
    return runs;
  }

  /** Removes a reconcile's seed, unless a row was applied to the key meanwhile (then the entry is the sync's). */
  async deleteSeed(key: string): Promise<void> {
    this.stats.requests++;
    await this.doc
      .send(new DeleteCommand({ TableName: this.tableName, Key: { pk: KEY_PREFIX + key }, ConditionExpression: "attribute_not_exists(profile)" }))
      .catch((err: unknown) => {
        if ((err as { name?: string }).name !== "ConditionalCheckFailedException") throw err;
      });
  }

  /** The reconcile in flight (its export job still running), if any. */
  async reconcileJob(): Promise<ReconcileJob | undefined> {
    this.stats.requests++;
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: RECONCILE_JOB_KEY }, ConsistentRead: true }));
    const item = res.Item;
    return item && typeof item.reconcileId === "string" && typeof item.jobId === "string" ? { reconcileId: item.reconcileId, jobId: item.jobId, startedAt: String(item.startedAt) } : undefined;
  }

  /** Records a reconcile's export job before it is polled: a later invocation continues it, never starts another. */
  async putReconcileJob(job: ReconcileJob): Promise<void> {
    this.stats.requests++;
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: RECONCILE_JOB_KEY, ...job } }));
  }

  /** Ends a reconcile: its figures become the last reconcile's, and its job is no longer in flight. */
  async finishReconcile(reconcileId: string, record: ReconcileRecord): Promise<void> {
    this.stats.requests += 2;
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: RECONCILE_LAST_KEY, record: JSON.stringify(record) } }));
    await this.doc
      .send(new DeleteCommand({ TableName: this.tableName, Key: { pk: RECONCILE_JOB_KEY }, ConditionExpression: "reconcileId = :r", ExpressionAttributeValues: { ":r": reconcileId } }))
      .catch((err: unknown) => {
        // Not ours (a dry run, or a later reconcile's): left as it is.
        if ((err as { name?: string }).name !== "ConditionalCheckFailedException") throw err;
      });
  }

  /** The last finished reconcile's figures, with its repairs' outcomes so far (the consumers count them under its id). */
  async lastReconcile(): Promise<ReconcileRecord | undefined> {
    this.stats.requests++;
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: RECONCILE_LAST_KEY }, ConsistentRead: true }));
    if (typeof res.Item?.record !== "string") return undefined;
    const record = JSON.parse(res.Item.record) as ReconcileRecord;
    if (record.dryRun) return record;
    this.stats.requests++;
    return { ...record, repairOutcomes: (await this.getRun(record.reconcileId))?.counts ?? {} };
  }

  /** Removes the lock whoever holds it: for the local runner, whose state directory only one process can open. */
  async breakRunLock(): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: LOCK_KEY } }));
  }

  /** Adds settled users to a run's counts: one atomic update per SQS record, top-level numbers (ADD creates them). */
  async addRunCounts(runId: string, counts: Partial<Record<Outcome, number>>): Promise<void> {
    const entries = OUTCOMES.map((o) => [o, counts[o] ?? 0] as const).filter(([, n]) => n > 0);
    if (entries.length === 0) return;
    this.stats.requests++;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: RUN_PREFIX + runId },
        UpdateExpression: `SET runId = :runId ADD ${entries.map((_, i) => `#o${i} :n${i}`).join(", ")}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([o], i) => [`#o${i}`, COUNT_PREFIX + o])),
        ExpressionAttributeValues: { ":runId": runId, ...Object.fromEntries(entries.map(([, n], i) => [`:n${i}`, n])) },
      }),
    );
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const res = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: RUN_PREFIX + runId }, ConsistentRead: true }));
    return res.Item ? toRun(res.Item) : undefined;
  }

  /** The latest runs, newest first, from the runs index. */
  async runs(limit = 10): Promise<RunRecord[]> {
    this.stats.requests++;
    const res = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: RUNS_INDEX.name,
        KeyConditionExpression: "#p = :v",
        ExpressionAttributeNames: { "#p": RUNS_INDEX.partitionKey },
        ExpressionAttributeValues: { ":v": RUNS_INDEX.value },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (res.Items ?? []).map(toRun);
  }
}

function toRun(item: Record<string, unknown>): RunRecord {
  const { pk: _pk, [RUNS_INDEX.partitionKey]: _i, ...rest } = item;
  const run: Record<string, unknown> = {};
  const counts: Partial<Record<Outcome, number>> = {};
  for (const [k, v] of Object.entries(rest)) {
    if (k.startsWith(COUNT_PREFIX)) counts[k.slice(COUNT_PREFIX.length) as Outcome] = Number(v);
    else run[k] = v;
  }
  return { ...(run as unknown as RunRecord), counts };
}

