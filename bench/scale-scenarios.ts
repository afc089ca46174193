/**
 * Tables of any size (issue 26), `npm run bench -- --only scale`: the two extract paths on the same generated demo
 * tables, no Auth0 involved (like the extractor-alone scenario), at each row count:
 *
 * - the Data API path: the extractor in a process of its own (bench/extractor-child.ts) against the Data API emulator
 *   and local SQS; then the same run meeting the Data API's 500 MB result limit (the emulator's limit lowered below
 *   the result's size, or at its real 500 MB when the result is larger): the one sentence the run ends with;
 * - the UNLOAD path: the emulator's UNLOAD into the local S3 (one slice per worker, so at least W Parquet files and
 *   more when a slice's rows exceed MAXFILESIZE), then one segment worker per file (bench/segment-child.ts, the real
 *   segment handler), each in a process of its own, W at a time, checking a ledger on dynalite and sending into
 *   local SQS; once with 1 worker and once with W, on the same files;
 * - at `resyncRows`, an unchanged re-sync: the W-worker pass's users applied to a ledger of their own as the consumers
 *   leave it after creating them (the consumer's applied entry, written here: a million creates through the Auth0
 *   emulator would take hours and measure the emulator), then the W workers again on the same files.
 *
 * The local stand-ins (PGlite, the emulator, s3rver, dynalite, SQS) all live in the parent, so the children's peak
 * RSS is a worker's alone. The UNLOAD itself (PGlite's query, a pure-JS Parquet writer) is timed apart and not in
 * the path's rows/s: on AWS Redshift's slices write the files in parallel.
 */
import { spawn } from "node:child_process";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { DescribeStatementCommand, ExecuteStatementCommand, RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { createSqsServer } from "local-aws-sqs";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Ledger } from "../functions/adapters/ledger/ledger.js";
import { parseMessage } from "../functions/adapters/sqs/message.js";
import type { LedgerEntry } from "../functions/core/records.js";
import { parseConfig, warehouseOf, type SyncConfig } from "../functions/core/config.js";
import { DATA_API_RESULT_LIMIT_BYTES } from "../functions/core/extract-config.js";
import { newRunId } from "../functions/core/runs.js";
import { segmentsFromManifest, sumSegments, type Segment, type SegmentTally } from "../functions/core/segments.js";
import { manifestKey, unloadLocation, unloadStatement } from "../functions/core/unload-statement.js";
import { createDemoTable } from "../local/demo-data.js";
import { ensureLedgerTable, startDynamo } from "../local/dynamo.js";
import { RedshiftDataEmulator } from "../local/redshift-data-emulator.js";
import { startS3 } from "../local/s3.js";
import { perUserCreates } from "./create-path.js";
import { insertGeneratedRows } from "./warehouse.js";

/** The issue's targets, evaluated on the figures (not timed tests). */
export const SCALE_TARGETS = {
  /** One segment worker's peak RSS at the largest table over its peak at the smallest. */
  rssRatio: 1.2,
  /** Rows/s with W workers over min(W, cores) x one worker's rows/s. */
  speedupShare: 0.8,
} as const;

const BUCKET = "bench-unload";
const LEDGER_TABLE = "auth0-sync-bench-ledger";
const MB = 2 ** 20;
const fake = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };

export interface DataApiFigures {
  rows: number;
  /** The result's size as the emulator measures ResultSize, estimated from every 1,000th row. */
  estimatedResultMb: number;
  /** The run at the real 500 MB limit; undefined when it was refused (the result is over the limit). */
  run?: { rowsPerS: number; peakRssMb: number; sqsRequestsPer100Rows: number; messages: number; elapsedS: number };
  /** The run meeting the limit: the limit it met, whether it was lowered for it, and the sentence the run ended with. */
  limit: { limitMb: number; lowered: boolean; errorName: string; sentence: string; elapsedS: number };
}

/** One pass over the files: the segments' figures summed (as the finishing step sums them), and what the bench measures. */
export interface UnloadPass extends Pick<SegmentTally, "rowsRead" | "rejected" | "unchanged" | "enqueued" | "messages" | "sqsRequests"> {
  workers: number;
  /** Rows in the table (what the segments must read between them). */
  tableRows: number;
  segments: number;
  wallS: number;
  rowsPerS: number;
  /** The largest peak RSS of one segment worker (each in a process of its own). */
  workerPeakRssMb: number;
  /** The slowest and the fastest segment, in the worker's own time (process start-up not included). */
  segmentS: { min: number; max: number };
  /** CPU time: the workers' processes together (start-up included), and the parent's (the local stand-ins). */
  cpuS: { workers: number; parent: number };
  sqsRequestsPer100Rows: number;
  /** Messages in the queue at the end (every one a segment sent). */
  queued: number;
  /** Segments whose record is in the ledger (what the finishing step sums). */
  recorded: number;
  /** Table rows not accounted for by the segments' outcomes (rejected + unchanged + enqueued). */
  unaccounted: number;
  /** Why the ledger's sum is not the whole run (sumSegments), if it is not. */
  incomplete?: string;
}

export interface UnloadFigures {
  rows: number;
  unloadS: number;
  files: number;
  /** Rows of the largest file (a segment's rows are bounded by MAXFILESIZE, not by the table). */
  largestFileRows: number;
  parquetMb: number;
  passes: UnloadPass[];
  /** The unchanged re-sync (at `resyncRows`): the users the first W-worker pass sent, applied, then the files again. */
  resync?: UnloadPass & { appliedUsers: number; applyS: number };
}

export interface ScaleRow {
  rows: number;
  seedS: number;
  /** The parent's peak RSS at this row count: PGlite (the table, the query's result), the emulator, the stand-ins. */
  parentPeakRssMb: number;
  dataApi?: DataApiFigures;
  unload?: UnloadFigures;
  /** Where and why this row count could not be measured (the larger ones are then not tried). */
  stopped?: string;
}

export interface ScaleFigures {
  workers: number;
  cores: number;
  /** The machine's 1-minute load average when the scenario started and ended (other work skews the figures). */
  load: { start: number; end: number };
  maxFileSizeMb: number;
  rows: ScaleRow[];
  targets: {
    rss?: { at: number; of: number; ratio: number; met: boolean };
    speedup: {
      rows: number;
      one: number;
      many: number;
      bar: number;
      met: boolean;
      /** The workers' CPU seconds per 100,000 rows with 1 and with W workers (equal: they do not slow each other). */
      workerCpuPer100k: { one: number; many: number };
      /** Cores the parent's stand-ins (SQS, S3, dynalite) kept busy during the W-worker pass. */
      standInCores: number;
    }[];
    unaccounted: { total: number; met: boolean };
  };
}

export interface ScaleOptions {
  /** The bench's config: its query's columns, queue settings and page size. */
  config: SyncConfig;
  rows: number[];
  workers: number;
  /** UNLOAD's MAXFILESIZE (source.unload.maxFileSizeMb): the largest segment a worker reads. */
  maxFileSizeMb: number;
  /** The row count whose UNLOAD path is run again once its users are applied: the unchanged re-sync. */
  resyncRows?: number;
  root: string;
  log: (line: string) => void;
}

/** A child process of the bench (`node --import tsx <script>`): its last stdout line as JSON, and its exit code. */
async function runChild<T>(script: string, env: Record<string, string>): Promise<{ code: number | null; out: T }> {
  const child = spawn(process.execPath, ["--import", "tsx", new URL(script, import.meta.url).pathname], {
    env: { ...process.env, NODE_OPTIONS: "", POWERTOOLS_LOG_LEVEL: "SILENT", POWERTOOLS_METRICS_DISABLED: "true", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let text = "";
  child.stdout.on("data", (c: Buffer) => (text += c.toString()));
  const code = await new Promise<number | null>((r) => child.on("close", r));
  const last = text.trim().split("\n").pop();
  if (!last) throw new Error(`${script} exited with ${code} and printed nothing`);
  return { code, out: JSON.parse(last) as T };
}

/** A local SQS server with one queue. */
async function startQueue(name: string) {
  const server: Server = await createSqsServer({ port: 0, hostname: "127.0.0.1" });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SQSClient({ ...fake, endpoint });
  const queueUrl = (await client.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  return {
    endpoint,
    queueUrl,
    messages: async () => Number((await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }))).Attributes?.ApproximateNumberOfMessages ?? 0),
    /** Every message, received and deleted, ten at a time. */
    async *drain() {
      for (;;) {
        const got = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (!got.Messages?.length) return;
        yield* got.Messages;
        await client.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: got.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
    },
    stop: () => {
      client.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Runs `f` over the items, at most `n` at a time. */
async function pool<T, R>(items: T[], n: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

/** A statement through the emulator, waited for; its DescribeStatement when FINISHED. */
async function statement(client: RedshiftDataClient, config: SyncConfig, sql: string) {
  const src = warehouseOf(config);
  const { Id } = await client.send(new ExecuteStatementCommand({ Sql: sql, Database: src.database, WorkgroupName: src.workgroupName, ClusterIdentifier: src.clusterIdentifier, SecretArn: src.secretArn }));
  for (;;) {
    const d = await client.send(new DescribeStatementCommand({ Id }));
    if (d.Status === "FINISHED") return d;
    if (d.Status === "FAILED" || d.Status === "ABORTED") throw new Error(`statement ${d.Status}: ${d.Error ?? "no message"}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type ExtractorOut = { rowsRead: number; messages: number; sqsRequests: number; elapsedMs: number; peakRssBytes: number; error?: { name: string; message: string } };

/** One extractor run (bench/extractor-child.ts) against an emulator over `db` with this result limit. */
async function extractorRun(db: PGlite, config: SyncConfig, rows: number, resultLimitBytes: number | undefined): Promise<ExtractorOut> {
  const emulator = new RedshiftDataEmulator({ db, pageSize: warehouseOf(config).pageSize, resultLimitBytes });
  const endpoint = await emulator.start();
  const queue = await startQueue(`bench-scale-${rows}`);
  try {
    const { code, out } = await runChild<ExtractorOut>("./extractor-child.ts", {
      BENCH_CONFIG: JSON.stringify(config),
      BENCH_REDSHIFT: endpoint,
      BENCH_SQS: queue.endpoint,
      BENCH_QUEUE_URL: queue.queueUrl,
    });
    if (code !== 0 && !out.error) throw new Error(`the extractor child exited with ${code}`);
    return out;
  } finally {
    queue.stop();
    emulator.forget();
    await emulator.stop();
  }
}

async function dataApiPath(db: PGlite, config: SyncConfig, rows: number, log: (line: string) => void): Promise<DataApiFigures> {
  // ResultSize as the emulator counts it (the records' JSON), from every 1,000th row: the lowered limit is under it.
  const sampler = new RedshiftDataEmulator({ db, pageSize: warehouseOf(config).pageSize });
  const client = new RedshiftDataClient({ ...fake, endpoint: await sampler.start() });
  let estimated: number;
  try {
    const d = await statement(client, config, `SELECT * FROM (${warehouseOf(config).sql}) q WHERE right(customer_id, 3) = '000'`);
    estimated = ((d.ResultSize ?? 0) / Math.max(1, d.ResultRows ?? 0)) * rows;
  } finally {
    client.destroy();
    await sampler.stop();
  }
  log(`scale ${rows}: Data API path (result about ${Math.round(estimated / MB)} MB)`);
  const full = await extractorRun(db, config, rows, undefined);
  const seconds = (ms: number) => ms / 1000;
  if (full.error) {
    if (full.error.name !== "ResultTooLargeError") throw new Error(`the Data API run failed: ${full.error.name}: ${full.error.message}`);
    return {
      rows,
      estimatedResultMb: estimated / MB,
      limit: { limitMb: DATA_API_RESULT_LIMIT_BYTES / MB, lowered: false, errorName: full.error.name, sentence: full.error.message, elapsedS: seconds(full.elapsedMs) },
    };
  }
  if (full.rowsRead !== rows) throw new Error(`the extractor read ${full.rowsRead} rows of ${rows}`);
  const run = { rowsPerS: full.rowsRead / seconds(full.elapsedMs), peakRssMb: full.peakRssBytes / MB, sqsRequestsPer100Rows: (full.sqsRequests / full.rowsRead) * 100, messages: full.messages, elapsedS: seconds(full.elapsedMs) };
  const limitBytes = Math.floor(estimated / 2);
  log(`scale ${rows}: the Data API run again, the emulator's result limit lowered to ${Math.round(limitBytes / MB)} MB`);
  const met = await extractorRun(db, config, rows, limitBytes);
  if (!met.error) throw new Error(`the Data API run with its limit lowered to ${limitBytes} bytes did not meet it`);
  return { rows, estimatedResultMb: estimated / MB, run, limit: { limitMb: limitBytes / MB, lowered: true, errorName: met.error.name, sentence: met.error.message, elapsedS: seconds(met.elapsedMs) } };
}

type SegmentOut = { tally?: SegmentTally; elapsedMs: number; peakRssBytes: number; cpuMs: number; error?: { name: string; message: string } };

async function unloadPath(db: PGlite, config: SyncConfig, rows: number, opts: ScaleOptions, dynamo: BenchLedger): Promise<UnloadFigures> {
  const s3 = await startS3(join(opts.root, `s3-${rows}`), [BUCKET]);
  const emulator = new RedshiftDataEmulator({ db, pageSize: warehouseOf(config).pageSize, s3: s3.client(), slices: opts.workers });
  const client = new RedshiftDataClient({ ...fake, endpoint: await emulator.start() });
  try {
    const src = warehouseOf(config);
    const location = unloadLocation(src.unload!, BUCKET, config.name, newRunId());
    opts.log(`scale ${rows}: UNLOAD to ${location.url} (${opts.workers} slices)`);
    const t0 = Date.now();
    await statement(client, config, unloadStatement(src, src.unload!, location.url));
    const unloadS = (Date.now() - t0) / 1000;
    const manifest = await s3.client().send(new GetObjectCommand({ Bucket: BUCKET, Key: manifestKey(location.prefix) }));
    const parsed = JSON.parse(await manifest.Body!.transformToString()) as { entries: { meta: { content_length: number } }[] };
    const segments = segmentsFromManifest(parsed, BUCKET);
    const parquetMb = parsed.entries.reduce((n, e) => n + e.meta.content_length, 0) / MB;
    const passes: UnloadPass[] = [];
    const resyncing = rows === opts.resyncRows;
    const resyncLedger = `${LEDGER_TABLE}-resync-${rows}`;
    let applied: { users: number; seconds: number } | undefined;
    for (const workers of [...new Set([1, opts.workers])]) {
      opts.log(`scale ${rows}: ${segments.length} segments, ${workers} worker(s) at a time`);
      const apply = resyncing && workers === opts.workers ? (queue: Queue) => applyQueue(queue, dynamo, resyncLedger, opts.log).then((a) => void (applied = a)) : undefined;
      passes.push(await segmentPass(config, rows, segments, workers, s3.endpoint, dynamo, { beforeStop: apply }));
    }
    let resync: UnloadFigures["resync"];
    if (applied) {
      opts.log(`scale ${rows}: the unchanged re-sync, ${opts.workers} worker(s) at a time`);
      const pass = await segmentPass(config, rows, segments, opts.workers, s3.endpoint, { endpoint: dynamo.endpoint, ledger: new Ledger(dynamo.client, resyncLedger), client: dynamo.client, table: resyncLedger }, { lookup: true });
      resync = { ...pass, appliedUsers: applied.users, applyS: applied.seconds };
    }
    return { rows, unloadS, files: segments.length, largestFileRows: Math.max(...segments.map((s) => s.rows)), parquetMb, passes, resync };
  } finally {
    client.destroy();
    await emulator.stop();
    await s3.stop();
  }
}

type Queue = Awaited<ReturnType<typeof startQueue>>;
type BenchLedger = { endpoint: string; ledger: Ledger; client: DynamoDBClient; table?: string };

/**
 * The queue's users applied to a ledger table of their own, as the consumers leave the ledger after creating them
 * (the applied entry of functions/flows/user-flow.ts: the user id Auth0 gave, the fingerprint and profile applied).
 */
async function applyQueue(queue: Queue, dynamo: BenchLedger, table: string, log: (line: string) => void): Promise<{ users: number; seconds: number }> {
  const t0 = Date.now();
  await ensureLedgerTable(dynamo.client, table);
  const ledger = new Ledger(dynamo.client, table);
  let batch: LedgerEntry[] = [];
  let users = 0;
  for await (const m of queue.drain()) {
    const parsed = parseMessage(m.Body ?? "");
    if (!parsed.ok) throw new Error(`a message the segments sent does not parse: ${parsed.reason}`);
    for (const op of parsed.message.ops) {
      if (op.kind !== "sync") continue;
      batch.push({ key: op.desired.key, userId: `auth0|${op.desired.key}`, fingerprint: op.fingerprint, profile: op.desired, managed: true, lastRunSeen: parsed.message.runId, lastOutcome: "created" });
    }
    if (batch.length >= 1000) {
      await ledger.users.putMany(batch);
      users += batch.length;
      batch = [];
    }
  }
  await ledger.users.putMany(batch);
  users += batch.length;
  const seconds = (Date.now() - t0) / 1000;
  log(`applied ${users} users to ${table} in ${seconds.toFixed(1)} s`);
  return { users, seconds };
}

async function segmentPass(
  config: SyncConfig,
  rows: number,
  segments: Segment[],
  workers: number,
  s3Endpoint: string,
  dynamo: BenchLedger,
  opts: { beforeStop?: (queue: Queue) => Promise<void>; lookup?: boolean } = {},
): Promise<UnloadPass> {
  const runId = newRunId();
  const queue = await startQueue(`bench-scale-${rows}-${workers}`);
  try {
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const outs = await pool(segments, workers, async (segment) => {
      const { out } = await runChild<SegmentOut>("./segment-child.ts", {
        BENCH_CONFIG: JSON.stringify(config),
        BENCH_S3: s3Endpoint,
        BENCH_SQS: queue.endpoint,
        BENCH_QUEUE_URL: queue.queueUrl,
        BENCH_DYNAMO: dynamo.endpoint,
        BENCH_LEDGER_TABLE: dynamo.table ?? LEDGER_TABLE,
        // dynalite reports an ItemCount of 0, so the core's policy would Scan the whole ledger in every segment; on
        // AWS, with the ledger's real count, it looks a segment's rows up (docs/scaling.md).
        ...(opts.lookup ? { BENCH_UNCHANGED_CHECK: "lookup" } : {}),
        BENCH_RUN_ID: runId,
        BENCH_SEGMENT: JSON.stringify(segment),
      });
      if (out.error || !out.tally) throw new Error(`segment ${segment.index} failed: ${out.error?.name}: ${out.error?.message}`);
      return out;
    });
    const wallS = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const tallies = outs.map((o) => o.tally!);
    const recorded = await dynamo.ledger.segments.finished(runId, segments.length);
    const sum = sumSegments(segments, recorded);
    const add = (f: (t: SegmentTally) => number) => tallies.reduce((n, t) => n + f(t), 0);
    const rowsRead = add((t) => t.rowsRead);
    const rejected = add((t) => t.rejected);
    const unchanged = add((t) => t.unchanged);
    const enqueued = add((t) => t.enqueued);
    const sqsRequests = add((t) => t.sqsRequests);
    const secs = outs.map((o) => o.elapsedMs / 1000);
    return {
      workers,
      tableRows: rows,
      segments: segments.length,
      wallS,
      rowsPerS: rowsRead / wallS,
      workerPeakRssMb: Math.max(...outs.map((o) => o.peakRssBytes)) / MB,
      segmentS: { min: Math.min(...secs), max: Math.max(...secs) },
      cpuS: { workers: outs.reduce((n, o) => n + o.cpuMs, 0) / 1000, parent: (cpu.user + cpu.system) / 1e6 },
      rowsRead,
      rejected,
      unchanged,
      enqueued,
      messages: add((t) => t.messages),
      sqsRequests,
      sqsRequestsPer100Rows: (sqsRequests / Math.max(1, rowsRead)) * 100,
      queued: await queue.messages(),
      recorded: recorded.length,
      unaccounted: rows - (rejected + unchanged + enqueued),
      incomplete: sum.incomplete ?? (sum.rowsRead !== rows ? `the ledger's segments read ${sum.rowsRead} rows of ${rows}` : undefined),
    };
  } finally {
    await opts.beforeStop?.(queue);
    queue.stop();
  }
}

export async function scaleScenarios(opts: ScaleOptions): Promise<ScaleFigures> {
  const cores = cpus().length;
  const loadStart = loadavg()[0]!;
  // The extractor alone's query (no roles: figures comparable with that scenario), and an unload config for the
  // UNLOAD path (the emulator's default IAM role, a local bucket, the given MAXFILESIZE, the rest at their defaults).
  const sql = "SELECT customer_id, email, first_name, last_name, phone, avatar_url, plan, tier, preferences, is_blocked FROM app_users";
  // `create.bulk: off`: every new row is sent to the main queue, as the messages and SQS requests counted here
  // assume (with the default `auto` and an import queue, a table of 1,000 new users or more would be packed into
  // import batches instead: issue 27). The workers here are given no import queue; this keeps it so if they are.
  const plain = JSON.parse(JSON.stringify(perUserCreates(opts.config))) as Record<string, Record<string, unknown>>;
  const dataApiConfig = parseConfig(JSON.stringify({ ...plain, roles: undefined, source: { ...plain.source, sql, extract: "data-api", unload: undefined } }));
  const unloadConfig = parseConfig(JSON.stringify({ ...plain, roles: undefined, source: { ...plain.source, sql, extract: "unload", unload: { iamRole: "default", bucket: BUCKET, maxFileSizeMb: opts.maxFileSizeMb } } }));
  const dynamo = await startDynamo();
  await ensureLedgerTable(dynamo.client, LEDGER_TABLE);
  const ledger = new Ledger(dynamo.client, LEDGER_TABLE);
  const out: ScaleRow[] = [];
  try {
    for (const rows of opts.rows) {
      const row: ScaleRow = { rows, seedS: 0, parentPeakRssMb: 0 };
      out.push(row);
      let parentPeak = process.memoryUsage.rss();
      const sampler = setInterval(() => (parentPeak = Math.max(parentPeak, process.memoryUsage.rss())), 100);
      let db: PGlite | undefined;
      let step = "creating the table";
      try {
        opts.log(`scale ${rows}: creating the demo table in PGlite`);
        const t0 = Date.now();
        db = new PGlite();
        await createDemoTable(db);
        await insertGeneratedRows(db, rows);
        row.seedS = (Date.now() - t0) / 1000;
        step = "the Data API path";
        row.dataApi = await dataApiPath(db, dataApiConfig, rows, opts.log);
        step = "the UNLOAD path";
        row.unload = await unloadPath(db, unloadConfig, rows, opts, { endpoint: dynamo.endpoint, ledger, client: dynamo.client });
      } catch (err) {
        row.stopped = `${step} at ${rows.toLocaleString("en-US")} rows: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
        opts.log(`scale ${rows}: stopped: ${row.stopped}`);
      } finally {
        clearInterval(sampler);
        row.parentPeakRssMb = Math.max(parentPeak, process.memoryUsage.rss()) / MB;
        await db?.close().catch(() => undefined);
      }
      if (row.stopped) break;
    }
  } finally {
    await dynamo.stop();
  }

  const measured = out.filter((r) => r.unload);
  const lo = measured[0];
  const hi = measured.at(-1);
  const peak = (r: ScaleRow) => Math.max(...r.unload!.passes.map((p) => p.workerPeakRssMb));
  const speedup = measured.flatMap((r) => {
    const one = r.unload!.passes.find((p) => p.workers === 1);
    const many = r.unload!.passes.find((p) => p.workers === opts.workers);
    if (!one || !many || opts.workers === 1) return [];
    const bar = SCALE_TARGETS.speedupShare * Math.min(opts.workers, cores) * one.rowsPerS;
    const per100k = (p: UnloadPass) => (p.cpuS.workers / p.rowsRead) * 100_000;
    return [{ rows: r.rows, one: one.rowsPerS, many: many.rowsPerS, bar, met: many.rowsPerS >= bar, workerCpuPer100k: { one: per100k(one), many: per100k(many) }, standInCores: many.cpuS.parent / many.wallS }];
  });
  const passes = measured.flatMap((r) => r.unload!.passes);
  const unaccounted = passes.reduce((n, p) => n + Math.abs(p.unaccounted) + Math.abs(p.tableRows - p.rowsRead), 0);
  return {
    workers: opts.workers,
    cores,
    load: { start: loadStart, end: loadavg()[0]! },
    maxFileSizeMb: warehouseOf(unloadConfig).unload!.maxFileSizeMb,
    rows: out,
    targets: {
      rss: lo && hi && lo !== hi ? { at: hi.rows, of: lo.rows, ratio: peak(hi) / peak(lo), met: peak(hi) <= SCALE_TARGETS.rssRatio * peak(lo) } : undefined,
      speedup,
      unaccounted: { total: unaccounted, met: unaccounted === 0 && passes.length > 0 && passes.every((p) => !p.incomplete && p.queued === p.messages) },
    },
  };
}

const fmt = (v: number, d = 1) => v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

/** The scenario as Markdown. */
export function scaleLines(f: ScaleFigures): string[] {
  const lines = [
    "",
    `Tables of any size (issue 26): the demo table generated in PGlite at each row count; no Auth0. Data API path: the extractor (one process) -> local SQS. UNLOAD path: the emulator's UNLOAD to local S3 (${f.workers} slices, MAXFILESIZE ${f.maxFileSizeMb} MB, Parquet), then one segment worker per file, each a process of its own (the real segment handler: Parquet by row groups, ledger check on dynalite, SQS), 1 and ${f.workers} at a time on the same files; its rows/s from the first worker's start to the last one's end (process start-ups included), the UNLOAD itself timed apart. Peak RSS: of one process (the stand-ins live in the parent).`,
    "",
    "| rows | path | workers | segments | rows/s | peak RSS of one worker (MB) | SQS requests / 100 rows | time (s) | outcome |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of f.rows) {
    const n = fmt(r.rows, 0);
    const d = r.dataApi;
    if (d?.run) lines.push(`| ${n} | Data API | 1 | - | ${fmt(d.run.rowsPerS, 0)} | ${fmt(d.run.peakRssMb, 0)} | ${fmt(d.run.sqsRequestsPer100Rows, 2)} | ${fmt(d.run.elapsedS)} | ${n} rows read, ${fmt(d.run.messages, 0)} messages |`);
    else if (d) lines.push(`| ${n} | Data API | 1 | - | - | - | - | ${fmt(d.limit.elapsedS)} | refused: the result (about ${fmt(d.estimatedResultMb, 0)} MB) is over the 500 MB limit |`);
    for (const p of r.unload?.passes ?? []) {
      const outcome = `rows read ${fmt(p.rowsRead, 0)} (sum of ${p.segments} segments; ${p.recorded} recorded in the ledger), ${fmt(p.unaccounted, 0)} unaccounted, ${fmt(p.messages, 0)} messages sent / ${fmt(p.queued, 0)} in the queue${p.incomplete ? `; INCOMPLETE: ${p.incomplete}` : ""}`;
      lines.push(`| ${n} | UNLOAD | ${p.workers} | ${p.segments} | ${fmt(p.rowsPerS, 0)} | ${fmt(p.workerPeakRssMb, 0)} | ${fmt(p.sqsRequestsPer100Rows, 2)} | ${fmt(p.wallS)} | ${outcome} |`);
    }
    const re = r.unload?.resync;
    if (re) {
      lines.push(`| ${n} | UNLOAD, unchanged re-sync | ${re.workers} | ${re.segments} | ${fmt(re.rowsPerS, 0)} | ${fmt(re.workerPeakRssMb, 0)} | ${fmt(re.sqsRequestsPer100Rows, 2)} | ${fmt(re.wallS)} | ${fmt(re.unchanged, 0)} unchanged of ${fmt(re.rowsRead, 0)} read, ${fmt(re.messages, 0)} messages sent / ${fmt(re.queued, 0)} in the queue, ${fmt(re.unaccounted, 0)} unaccounted |`);
    }
    if (r.stopped) lines.push(`| ${n} | - | - | - | - | - | - | - | stopped: ${r.stopped.replaceAll("|", "\\|")} |`);
  }
  lines.push("");
  for (const r of f.rows) {
    const parts = [`${fmt(r.rows, 0)} rows: table created in ${fmt(r.seedS)} s; the parent's peak RSS (PGlite, the emulator, the stand-ins) ${fmt(r.parentPeakRssMb / 1024, 1)} GiB`];
    if (r.unload) parts.push(`UNLOAD in ${fmt(r.unload.unloadS)} s (${r.unload.files} files, the largest ${fmt(r.unload.largestFileRows, 0)} rows, ${fmt(r.unload.parquetMb)} MB of Parquet)`);
    if (r.unload?.resync) parts.push(`before the re-sync, the ${fmt(r.unload.resync.appliedUsers, 0)} users sent applied to a ledger of their own in ${fmt(r.unload.resync.applyS)} s (the consumers' applied entries; the re-sync's workers look their rows up, as the core's policy does next to a ledger of that size)`);
    if (r.dataApi) {
      const l = r.dataApi.limit;
      parts.push(`the Data API's limit ${l.lowered ? `lowered to ${fmt(l.limitMb)} MB (the result is about ${fmt(r.dataApi.estimatedResultMb)} MB)` : "at 500 MB"} met: "${l.sentence}"`);
    }
    lines.push(`- ${parts.join("; ")}`);
  }
  lines.push(`- The machine's 1-minute load average: ${fmt(f.load.start, 2)} at the start, ${fmt(f.load.end, 2)} at the end (${f.cores} cores; anything else running takes from the workers).`);
  const t = f.targets;
  lines.push("", "Targets:");
  lines.push(
    t.rss
      ? `- One segment worker's peak RSS at ${fmt(t.rss.at, 0)} rows <= ${SCALE_TARGETS.rssRatio} x at ${fmt(t.rss.of, 0)}: ${fmt(t.rss.ratio, 2)}x: ${t.rss.met ? "met" : "NOT met"}.`
      : "- One segment worker's peak RSS: not evaluated (fewer than two row counts measured).",
  );
  if (t.speedup.length === 0) lines.push(`- Rows/s with W workers: not evaluated (W = ${f.workers}).`);
  for (const s of t.speedup) {
    lines.push(`- Rows/s with ${f.workers} workers >= ${SCALE_TARGETS.speedupShare} x min(${f.workers}, ${f.cores} cores) x one worker's, at ${fmt(s.rows, 0)} rows: ${fmt(s.many, 0)} >= ${SCALE_TARGETS.speedupShare} x ${Math.min(f.workers, f.cores)} x ${fmt(s.one, 0)} = ${fmt(s.bar, 0)} (${fmt(s.many / s.one, 2)}x): ${s.met ? "met" : "NOT met"}; the workers' CPU per 100,000 rows ${fmt(s.workerCpuPer100k.one, 2)} s with 1, ${fmt(s.workerCpuPer100k.many, 2)} s with ${f.workers}; the parent's stand-ins kept ${fmt(s.standInCores, 2)} of a core busy.`);
  }
  lines.push(`- 0 unaccounted (every table row in one segment's outcome, the ledger's sum equal to the table, every message sent in the queue): ${fmt(t.unaccounted.total, 0)} unaccounted: ${t.unaccounted.met ? "met" : "NOT met"}.`);
  const resynced = f.rows.find((r) => r.unload?.resync);
  const re = resynced?.unload?.resync;
  if (re) {
    const met = re.unchanged === resynced.rows && re.rowsRead === resynced.rows && re.sqsRequests === 0 && re.queued === 0;
    lines.push(`- An unchanged re-sync of ${fmt(resynced.rows, 0)} rows makes 0 Auth0 calls and sends no SQS message: ${fmt(re.unchanged, 0)} unchanged, ${fmt(re.sqsRequests, 0)} SQS requests, ${fmt(re.queued, 0)} messages (so no consumer runs and no Auth0 call is made): ${met ? "met" : "NOT met"}.`);
  }
  const stop = f.rows.find((r) => r.stopped);
  if (stop) lines.push(`- Stopped at ${fmt(stop.rows, 0)} rows: ${stop.stopped}.`);
  return lines;
}
