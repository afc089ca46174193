/**
 * The ledger's run records and the run lock in DynamoDB: one item per run (its status, summary and the consumers'
 * counts), newest first through the `runs` index, and one lock item that lets at most one extract run at a time.
 * When a run still recorded as running has in fact stopped is the core's judgement (core/runs.ts).
 */
import { GetCommand, QueryCommand, UpdateCommand, DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { RUNS_INDEX } from "../../core/ledger-keys.js";
import { OUTCOMES, type Outcome } from "../../core/outcomes.js";
import type { RunRecord } from "../../core/records.js";
import type { RunLockState, RunStatus } from "../../core/runs.js";
import { ITEM, type LedgerTable } from "./table.js";

/** The consumers' counts are top-level numbers of the run item, `n_<outcome>` (ADD creates them). */
const COUNT_PREFIX = "n_";
/** A run over an unloaded table: its segments in all (set by its plan step) and finished (added by each worker). */
const SEGMENTS = { total: "segmentsTotal", done: "segmentsDone" } as const;
/** A run's import jobs and the users they created (added by the importer as it submits and finishes batches). */
const IMPORTS = { jobs: "importJobs", users: "importedUsers" } as const;

export type LockResult = { ok: true; lastRowsRead?: number; expiredHolder?: string } | { ok: false; heldBy: string };

export class RunLedger {
  constructor(private readonly t: LedgerTable) {}

  /** Writes a run's own fields; the consumers' counts on the same item are left alone. */
  /** A failed run going on (a redrive): running again, its error and end removed. */
  async reopen(runId: string): Promise<void> {
    this.t.stats.requests++;
    await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: { pk: ITEM.run + runId },
        UpdateExpression: "SET #s = :running REMOVE #e, finishedAt",
        ExpressionAttributeNames: { "#s": "status", "#e": "error" },
        ExpressionAttributeValues: { ":running": "running" },
      }),
    );
  }

  async put(run: RunRecord): Promise<void> {
    this.t.stats.requests++;
    const { runId, counts: _counts, ...fields } = run;
    const set = Object.entries({ ...fields, [RUNS_INDEX.partitionKey]: RUNS_INDEX.value }).filter(([, v]) => v !== undefined);
    await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: { pk: ITEM.run + runId },
        UpdateExpression: `SET runId = :runId, ${set.map((_, i) => `#f${i} = :v${i}`).join(", ")}`,
        ExpressionAttributeNames: Object.fromEntries(set.map(([k], i) => [`#f${i}`, k])),
        ExpressionAttributeValues: { ":runId": runId, ...Object.fromEntries(set.map(([, v], i) => [`:v${i}`, v])) },
      }),
    );
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: ITEM.run + runId }, ConsistentRead: true }));
    return res.Item ? toRun(res.Item) : undefined;
  }

  /** The latest runs, newest first, from the runs index. */
  async latest(limit = 10): Promise<RunRecord[]> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(
      new QueryCommand({
        TableName: this.t.tableName,
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

  /** Adds settled users to a run's counts: one atomic update per SQS record, top-level numbers (ADD creates them). */
  async addCounts(runId: string, counts: Partial<Record<Outcome, number>>): Promise<void> {
    const entries = OUTCOMES.map((o) => [o, counts[o] ?? 0] as const).filter(([, n]) => n > 0);
    if (entries.length === 0) return;
    this.t.stats.requests++;
    await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: { pk: ITEM.run + runId },
        UpdateExpression: `SET runId = :runId ADD ${entries.map((_, i) => `#o${i} :n${i}`).join(", ")}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([o], i) => [`#o${i}`, COUNT_PREFIX + o])),
        ExpressionAttributeValues: { ":runId": runId, ...Object.fromEntries(entries.map(([, n], i) => [`:n${i}`, n])) },
      }),
    );
  }

  /** Adds import jobs submitted and users they created to a run's figures. */
  async addImports(runId: string, add: { jobs: number; users: number }): Promise<void> {
    if (add.jobs === 0 && add.users === 0) return;
    this.t.stats.requests++;
    await this.t.doc.send(
      new UpdateCommand({
        TableName: this.t.tableName,
        Key: { pk: ITEM.run + runId },
        UpdateExpression: "SET runId = :r ADD #j :j, #u :u",
        ExpressionAttributeNames: { "#j": IMPORTS.jobs, "#u": IMPORTS.users },
        ExpressionAttributeValues: { ":r": runId, ":j": add.jobs, ":u": add.users },
      }),
    );
  }

  /** Records how many segments a run over an unloaded table has (its plan step). */
  async setSegmentsTotal(runId: string, total: number): Promise<void> {
    this.t.stats.requests++;
    await this.t.doc.send(new UpdateCommand({ TableName: this.t.tableName, Key: { pk: ITEM.run + runId }, UpdateExpression: "SET runId = :r, #t = :t", ExpressionAttributeNames: { "#t": SEGMENTS.total }, ExpressionAttributeValues: { ":r": runId, ":t": total } }));
  }

  /** One more segment finished (each segment's worker adds it once, right after recording the segment). */
  async addSegmentDone(runId: string): Promise<void> {
    this.t.stats.requests++;
    await this.t.doc.send(new UpdateCommand({ TableName: this.t.tableName, Key: { pk: ITEM.run + runId }, UpdateExpression: "SET runId = :r ADD #d :one", ExpressionAttributeNames: { "#d": SEGMENTS.done }, ExpressionAttributeValues: { ":r": runId, ":one": 1 } }));
  }

  /**
   * Marks a run interrupted if its record still has one of `from` (by default: running; a run that ended meanwhile
   * keeps its status). A local run stopped while its users were applied passes its ended statuses too.
   */
  async markInterrupted(runId: string, reason: string, now = new Date(), from: RunStatus[] = ["running"]): Promise<boolean> {
    this.t.stats.requests++;
    return this.t.conditionally(() =>
      this.t.doc.send(
        new UpdateCommand({
          TableName: this.t.tableName,
          Key: { pk: ITEM.run + runId },
          UpdateExpression: "SET #s = :i, finishedAt = :t, #e = :e",
          ConditionExpression: `#s IN (${from.map((_, i) => `:from${i}`).join(", ")})`,
          ExpressionAttributeNames: { "#s": "status", "#e": "error" },
          ExpressionAttributeValues: { ":i": "interrupted", ":t": now.toISOString(), ":e": reason, ...Object.fromEntries(from.map((f, i) => [`:from${i}`, f])) },
        }),
      ),
    );
  }

  /**
   * Takes the run lock for `ttlMs` (the extractor's timeout: a crashed extract cannot hold it longer): free,
   * expired, or already this run's (a step run again: a retried or redriven start, a resumed run). Returns the run
   * holding it when it is taken, else how many rows the last completed extract read (kept on the lock item by
   * `releaseLock`, read with the same request).
   */
  async acquireLock(runId: string, ttlMs: number, now = Date.now()): Promise<LockResult> {
    const old = await this.updateLock("SET lockRunId = :r, lockExpiresAt = :e", "attribute_not_exists(lockRunId) OR lockExpiresAt < :now OR lockRunId = :r", {
      ":r": runId,
      ":e": now + ttlMs,
      ":now": now,
    });
    if (old) {
      // A holder that never released the lock: its extractor stopped before the end (it is marked interrupted).
      const expiredHolder = typeof old.lockRunId === "string" && old.lockRunId !== runId ? old.lockRunId : undefined;
      return { ok: true, lastRowsRead: typeof old.lastRowsRead === "number" ? old.lastRowsRead : undefined, expiredHolder };
    }
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: ITEM.lock }, ConsistentRead: true }));
    return { ok: false, heldBy: String(res.Item?.lockRunId ?? "another run") };
  }

  /** Releases the lock if this run holds it; a completed extract leaves its row count for the next one. */
  async releaseLock(runId: string, rowsRead?: number): Promise<void> {
    if (rowsRead === undefined) await this.updateLock("REMOVE lockRunId, lockExpiresAt", "lockRunId = :r", { ":r": runId });
    else await this.updateLock("REMOVE lockRunId, lockExpiresAt SET lastRowsRead = :n", "lockRunId = :r", { ":r": runId, ":n": rowsRead });
  }

  /** The run holding the lock and until when, if any. */
  async lock(): Promise<RunLockState> {
    this.t.stats.requests++;
    const res = await this.t.doc.send(new GetCommand({ TableName: this.t.tableName, Key: { pk: ITEM.lock }, ConsistentRead: true }));
    const item = res.Item ?? {};
    return { runId: typeof item.lockRunId === "string" ? item.lockRunId : undefined, expiresAt: typeof item.lockExpiresAt === "number" ? item.lockExpiresAt : undefined };
  }

  /** Removes the lock whoever holds it: for the local runner, whose state directory only one process can open. */
  async breakLock(): Promise<void> {
    await this.t.doc.send(new DeleteCommand({ TableName: this.t.tableName, Key: { pk: ITEM.lock } }));
  }

  /** A conditional update of the lock item: its attributes before the update, or undefined when the condition does not hold. */
  private async updateLock(update: string, condition: string, values: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
    this.t.stats.requests++;
    let before: Record<string, unknown> | undefined;
    const made = await this.t.conditionally(async () => {
      const res = await this.t.doc.send(
        new UpdateCommand({ TableName: this.t.tableName, Key: { pk: ITEM.lock }, UpdateExpression: update, ConditionExpression: condition, ExpressionAttributeValues: values, ReturnValues: "ALL_OLD" }),
      );
      before = res.Attributes ?? {};
    });
    return made ? before : undefined;
  }
}

function toRun(item: Record<string, unknown>): RunRecord {
  const { pk: _pk, [RUNS_INDEX.partitionKey]: _i, ...rest } = item;
  const run: Record<string, unknown> = {};
  const counts: Partial<Record<Outcome, number>> = {};
  const { [SEGMENTS.total]: total, [SEGMENTS.done]: done, [IMPORTS.jobs]: jobs, [IMPORTS.users]: users, ...fields } = rest;
  for (const [k, v] of Object.entries(fields)) {
    if (k.startsWith(COUNT_PREFIX)) counts[k.slice(COUNT_PREFIX.length) as Outcome] = Number(v);
    else run[k] = v;
  }
  const segments = total === undefined ? undefined : { done: Number(done ?? 0), total: Number(total) };
  const imports = jobs === undefined && users === undefined ? undefined : { jobs: Number(jobs ?? 0), users: Number(users ?? 0) };
  return { ...(run as unknown as RunRecord), counts, ...(segments ? { segments } : {}), ...(imports ? { imports } : {}) };
}
