/**
 * `npm run bench` (through bench/run.ts): the sync against the Auth0 emulator at a fixed budget and latency, through the real handlers
 * in the local pipeline (each consumer instance with its own pacer and token cache, as in AWS), users with their
 * roles, next to two baselines on the same emulator settings doing the same work: the naive sequential script
 * (bench/baseline.ts) and the competent one (bench/competent.ts: lookup-then-upsert by 16 workers through one
 * client paced at the full budget); then the rate-limit scenarios (bench/rate-scenarios.ts: a tenant slower than
 * configured, a competing client, the Professional plan's buckets); then first loads through import jobs
 * (bench/import-scenarios.ts: 20,000 new users, per-user path against import path, Enterprise and Professional); then
 * the extractor alone at scale; then the reconcile's scenarios (bench/reconcile.ts): the snapshot reader's memory at
 * two tenant sizes, and onboarding a tenant that already holds the users. Prints a Markdown table and writes
 * bench/results/<time>.json, bench/results/latest.json and an SVG of scenario 1's calls/s.
 *
 *   npm run bench -- [--quick] [--rows N] [--rate RPS] [--latency-ms M] [--jitter-ms J] [--baseline-rows N]
 *                    [--competent-rows N] [--rate-rows M] [--no-rate] [--no-before]
 *                    [--extractor-rows A,B] [--no-extractor] [--snapshot-users A,B] [--onboard-rows N]
 *                    [--no-reconcile] [--only reconcile|rate|scale] [--scale-rows A,B,C] [--workers W] [--max-file-mb M]
 *                    [--resync-rows R] [--crash-rows C] [--only import] [--import-rows I] [--import-per-user-rows E,P]
 *                    [--import-users-per-s U] [--import-mixed-rows X] [--no-import] [--only watch] [--watch-edits W]
 *                    [--no-watch] [--out DIR]
 *
 * `--only reconcile` runs the reconcile's scenarios alone, `--only rate` the rate-limit scenarios alone (with (c),
 * a first sync at the matched budget, run on M rows there instead of taken from scenario 1), `--only scale` the
 * tables of any size (bench/scale-scenarios.ts: the Data API path and the UNLOAD path at 200,000, 1,000,000 and
 * 2,000,000 rows, W = 2 segment workers, UNLOAD's MAXFILESIZE M = 16 MB, an unchanged re-sync at R = 1,000,000 rows,
 * and bench/crash-scenario.ts: a SIGKILLed segment worker in a first sync of C = 20,000 users; run with --only scale
 * only), `--only import` the import scenarios alone (I = 20,000 new users through import jobs at U = 111 users/s a
 * job, Auth0's figure; the per-user path measured on E = 2,000 users at Enterprise and P = 1,000 at Professional and
 * extrapolated to I; X = 4,000 demo rows with their phones, which go per user, through the import path at
 * Enterprise), `--only watch` the watch alone (bench/watch-scenario.ts: W = 120 Dashboard edits of managed users at
 * 2/s, each repaired from the tenant's log stream; the sync's own writes and unowned fields); all five write
 * bench/results/<time>.json only (latest.json and the SVG stay those of the last whole
 * run).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { createSqsServer } from "local-aws-sqs";
import { Auth0Adapter, auth0OptionsFromConfig } from "../functions/adapters/auth0/client.js";
import { Pacer } from "../functions/adapters/auth0/pacer.js";
import { parseConfig, warehouseOf, type SyncConfig } from "../functions/core/config.js";
import { consumerBudget } from "../functions/core/budget.js";
import { GLOBAL_BUCKET } from "../functions/core/rate-limits.js";
import { IMPORT_USERS_PER_SECOND } from "../functions/core/import-batches.js";
import { Auth0Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, type RequestLogEntry } from "../local/auth0-emulator.js";
import { createDemoTable, DEMO_ROLES, DEMO_TABLE, insertRows } from "../local/demo-data.js";
import { runLocalPipeline, type LocalEnvironment, type LocalRunSummary } from "../local/pipeline.js";
import { RedshiftDataEmulator } from "../local/redshift-data-emulator.js";
import { naiveSync, type NaiveResult } from "./baseline.js";
import { callsPerSecondSvg } from "./chart.js";
import { COMPETENT_CONCURRENCY, competentPacer, competentSync } from "./competent.js";
import { rateScenarioLines, rateScenarios, TARGETS, type MatchedFigures, type RateScenariosFigures } from "./rate-scenarios.js";
import { onboarding, snapshotMemory, type OnboardingAfter, type OnboardingFigures, type SnapshotMemoryFigures } from "./reconcile-scenarios.js";
import { scaleLines, scaleScenarios, type ScaleFigures } from "./scale-scenarios.js";
import { crashLines, segmentCrashScenario, type CrashFigures } from "./crash-scenario.js";
import { importScenarioLines, importScenarios, type ImportScenariosFigures } from "./import-scenarios.js";
import { createdWritesLines, createdWritesScenario, type CreatedWritesFigures } from "./created-writes-scenario.js";
import { watchLines, watchScenario, type WatchFigures } from "./watch-scenario.js";
import { cleanRows, insertGeneratedRows, writeWarehouse } from "./warehouse.js";

const { values: a } = parseArgs({
  options: {
    quick: { type: "boolean" },
    rows: { type: "string" },
    rate: { type: "string" },
    "latency-ms": { type: "string" },
    "jitter-ms": { type: "string" },
    "baseline-rows": { type: "string" },
    "competent-rows": { type: "string" },
    "rate-rows": { type: "string" },
    "no-rate": { type: "boolean" },
    "no-before": { type: "boolean" },
    "extractor-rows": { type: "string" },
    "no-extractor": { type: "boolean" },
    "snapshot-users": { type: "string" },
    "onboard-rows": { type: "string" },
    "no-reconcile": { type: "boolean" },
    "scale-rows": { type: "string" },
    workers: { type: "string" },
    "max-file-mb": { type: "string" },
    "resync-rows": { type: "string" },
    "crash-rows": { type: "string" },
    "import-rows": { type: "string" },
    "import-per-user-rows": { type: "string" },
    "import-users-per-s": { type: "string" },
    "import-mixed-rows": { type: "string" },
    "no-import": { type: "boolean" },
    "watch-edits": { type: "string" },
    "no-watch": { type: "boolean" },
    only: { type: "string" },
    out: { type: "string" },
  },
});
const quick = a.quick === true;
const N = Number(a.rows ?? (quick ? 2_000 : 20_000));
const RATE = Number(a.rate ?? 50);
const LATENCY = Number(a["latency-ms"] ?? 30);
const JITTER = Number(a["jitter-ms"] ?? 20);
// The baseline is sequential: its time grows linearly with rows, so it may run on a prefix and be scaled.
const BASELINE_ROWS = Math.min(N, Number(a["baseline-rows"] ?? (quick ? 250 : 2_000)));
// The competent baseline is bound by the budget (about 3 calls a new user): all rows at --quick, a prefix otherwise.
const COMPETENT_ROWS = Math.min(N, Number(a["competent-rows"] ?? (quick ? N : 2_000)));
// Rows (new users) of each rate-limit scenario.
const RATE_ROWS = Number(a["rate-rows"] ?? (quick ? 300 : 600));
const EXTRACTOR_ROWS = (a["extractor-rows"] ?? (quick ? "20000,200000" : "100000,1000000")).split(",").map(Number);
const SNAPSHOT_USERS = (a["snapshot-users"] ?? (quick ? "10000,50000" : "10000,100000")).split(",").map(Number);
// The demo's warehouse, as `npm start` seeds it: 2,000 rows, 1,923 of them valid users.
const ONBOARD_ROWS = Number(a["onboard-rows"] ?? 2_000);
// Onboarding counts calls, not time: a fast tenant keeps it short (calls are the same at any rate without 429s).
const ONBOARD_RATE = 500;
// The snapshot reader once more with V8's old generation capped this low: a reader that kept the users could not finish.
const SNAPSHOT_CAP_MB = 40;
// Tables of any size (issue 26): the Data API path and the UNLOAD path on tables of these many rows, W segment workers.
const SCALE_ROWS = (a["scale-rows"] ?? (quick ? "200000,500000" : "200000,1000000,2000000")).split(",").map(Number);
const SCALE_WORKERS = Number(a.workers ?? 2);
// MAXFILESIZE of the UNLOAD path: small enough that the smallest table's files are full ones too (the emulator
// splits by the rows' JSON size: about 84,000 demo rows a file), so one worker's memory is compared file for file.
const SCALE_FILE_MB = Number(a["max-file-mb"] ?? 16);
// The table size whose UNLOAD path is run again once its users are applied (the unchanged re-sync), if measured.
const RESYNC_ROWS = Number(a["resync-rows"] ?? (quick ? 200_000 : 1_000_000));
const CRASH_ROWS = Number(a["crash-rows"] ?? (quick ? 5_000 : 20_000));
// First loads through import jobs (issue 27): the import path on IMPORT_ROWS new users; the per-user path, bound by
// its bucket (20,000 users: about 21 min at 16/s, 100 min at Professional's 200 writes/min), on fewer users
// (Enterprise, Professional; one number for both) and extrapolated; the emulator's import speed (users/s a job).
const IMPORT_ROWS = Number(a["import-rows"] ?? (quick ? 5_000 : 20_000));
const importPerUser = (a["import-per-user-rows"] ?? (quick ? "500,300" : "2000,1000")).split(",").map(Number);
const IMPORT_PER_USER_ROWS = { enterprise: importPerUser[0]!, professional: importPerUser[1] ?? importPerUser[0]! };
const IMPORT_USERS_PER_S = Number(a["import-users-per-s"] ?? IMPORT_USERS_PER_SECOND);
// The import path once more at Enterprise on the demo rows as they are: 70% have a phone, which Auth0's import schema
// cannot carry, so those are created per user (0: not run).
const IMPORT_MIXED_ROWS = Number(a["import-mixed-rows"] ?? (quick ? 0 : 4_000));
if (![IMPORT_ROWS, IMPORT_PER_USER_ROWS.enterprise, IMPORT_PER_USER_ROWS.professional].every((v) => Number.isInteger(v) && v >= 10) || !(IMPORT_USERS_PER_S > 0) || !(Number.isInteger(IMPORT_MIXED_ROWS) && IMPORT_MIXED_ROWS >= 0)) {
  throw new Error("--import-rows and --import-per-user-rows take whole numbers of 10 or more (--import-per-user-rows: E,P or one for both), --import-users-per-s a positive number, --import-mixed-rows a whole number (0: not run)");
}
if (a.only !== undefined && !["reconcile", "rate", "scale", "import", "watch"].includes(a.only)) throw new Error(`--only ${a.only}: only "reconcile", "rate", "scale", "import" and "watch" are known`);
// The watch (issue 28): Dashboard edits of managed users at 2/s, each repaired from the tenant's log stream.
// At least 100 edits (the target's p95 is over 100 or more), --quick too: the scenario takes about two minutes.
const WATCH_EDITS = Number(a["watch-edits"] ?? 120);
if (SCALE_ROWS.some((n) => !Number.isInteger(n) || n < 1000) || !Number.isInteger(SCALE_WORKERS) || SCALE_WORKERS < 1) throw new Error("--scale-rows takes row counts of 1,000 or more, --workers a whole number of 1 or more");
const ONLY_RECONCILE = a.only === "reconcile";
const ONLY_RATE = a.only === "rate";
const RUN_SCALE = a.only === "scale";
const RUN_MAIN = a.only === undefined;
const RUN_RECONCILE = ONLY_RECONCILE || (RUN_MAIN && !a["no-reconcile"]);
const RUN_RATE = ONLY_RATE || (RUN_MAIN && !a["no-rate"]);
const RUN_IMPORT = a.only === "import" || (RUN_MAIN && !a["no-import"]);
const RUN_WATCH = a.only === "watch" || (RUN_MAIN && !a["no-watch"]);
const OUT = a.out ?? "bench/results";

const example = readFileSync(new URL("../config/example.yml", import.meta.url), "utf8");
// Users and their roles are measured here: the example's organizations are left out of the bench's configs (the
// onboarding scenario keeps them: it runs config/example.yml as it is).
const base = JSON.parse(JSON.stringify({ ...parseConfig(example), organizations: undefined })) as Record<string, Record<string, unknown>>;
// The demo table with its roles column (1-2 roles a user) and example.yml's roles; 4 messages (100 users) an
// invocation, as docs/config.md advises for a first load with roles; rows in key order. `create.bulk: off`:
// scenario 1 (and the rate, scale and crash scenarios, which start from this config and pin it again) measure the
// per-user create path; with the default `auto` a first load of 1,000 new users or more would go through Auth0
// import jobs instead (issue 27), which the import scenarios measure (bench/import-scenarios.ts).
const config: SyncConfig = parseConfig(
  JSON.stringify({
    ...base,
    create: { ...base.create, bulk: "off" },
    queue: { ...base.queue, batchSize: 4 },
    source: { ...base.source, sql: "SELECT customer_id, email, first_name, last_name, phone, avatar_url, plan, tier, preferences, roles, is_blocked FROM app_users ORDER BY customer_id" },
    auth0: { ...base.auth0, plan: undefined, endpointGroups: undefined, rateLimit: { requestsPerSecond: RATE, burst: RATE } },
  }),
);

/** 1% of the rows, spread evenly (every 100th), get a new first name. */
async function changeOnePercent(db: PGlite): Promise<number> {
  const r = await db.query(
    `UPDATE ${DEMO_TABLE} SET first_name = first_name || 'x' WHERE customer_id IN
       (SELECT customer_id FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS rn FROM ${DEMO_TABLE}) q WHERE rn % 100 = 0)`,
  );
  return r.affectedRows ?? 0;
}

type Approach = "sync" | "naive" | "competent";

interface Figures {
  scenario: string;
  approach: Approach;
  rows: number;
  measuredRows: number;
  wallS: number;
  calls: number;
  callsPerRow: number;
  /** Users created (scaled like the calls). */
  created: number;
  /** Calls over users created (scenario 1: every user is new). */
  callsPerNewUser: number;
  status429: number;
  share429: number;
  utilisation: number;
  idealS: number;
  idealOverActual: number;
  /** The naive's and the competent baseline's wall time over this one's. */
  speedup?: number;
  speedupVsCompetent?: number;
}

/** The Management API calls, by arrival (the log is written as answers leave). */
const api = (log: readonly RequestLogEntry[]) => log.filter((e) => e.route !== "/oauth/token").sort((x, y) => x.t - y.t);

function figures(scenario: string, approach: Approach, rows: number, measuredRows: number, wallMs: number, log: readonly RequestLogEntry[], created: number): Figures {
  const calls = api(log);
  const scale = rows / measuredRows;
  const span = calls.length > 1 ? (calls[calls.length - 1]!.t - calls[0]!.t) / 1000 : 0;
  const wallS = (wallMs / 1000) * scale;
  const n = calls.length * scale;
  const idealS = n / RATE;
  const status429 = calls.filter((e) => e.status === 429).length;
  return {
    scenario,
    approach,
    rows,
    measuredRows,
    wallS,
    calls: Math.round(n),
    callsPerRow: n / rows,
    created: created * scale,
    callsPerNewUser: created > 0 ? calls.length / created : 0,
    status429: status429 * scale,
    share429: calls.length > 0 ? status429 / calls.length : 0,
    utilisation: span > 0 ? calls.length / span / RATE : 0,
    idealS,
    idealOverActual: wallS > 0 ? idealS / wallS : 0,
  };
}

function perSecond(log: readonly RequestLogEntry[]): number[] {
  const calls = api(log);
  if (calls.length === 0) return [];
  const t0 = calls[0]!.t;
  const out: number[] = [];
  for (const e of calls) {
    const s = Math.floor((e.t - t0) / 1000);
    while (out.length <= s) out.push(0);
    out[s]!++;
  }
  return out;
}

const progress = (label: string) => (p: { phase: string; done: number; total: number }) => {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${label}: ${p.phase} ${p.done}/${p.total}`);
};
const done = () => process.stderr.isTTY && process.stderr.write("\r\x1b[2K");

/** Calls by "METHOD route status" (tokens left out). */
function routeCounts(log: readonly RequestLogEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of api(log)) {
    const k = `${e.method} ${e.route.replace("/api/v2", "")} ${e.status}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

// The sync, through the local pipeline.
async function syncScenarios(root: string) {
  const stateDir = join(root, "sync");
  mkdirSync(stateDir, { recursive: true });
  await writeWarehouse(stateDir, cleanRows(N));
  const out: { figures: Figures; summary: LocalRunSummary; log: RequestLogEntry[]; perSecond?: number[] }[] = [];
  const run = async (name: string) => {
    let env: LocalEnvironment | undefined;
    const summary = await runLocalPipeline({
      config,
      stateDir,
      rate: RATE,
      burst: RATE,
      latencyMs: LATENCY,
      jitterMs: JITTER,
      onEnvironment: (e) => {
        env = e;
      },
      onProgress: progress(name),
    });
    done();
    const log = [...(env?.emulator?.requestLog ?? [])];
    process.stderr.write(`${name}: ${JSON.stringify({ created: summary.created, updated: summary.updated, unchanged: summary.unchanged, rejected: summary.rejected, unaccounted: summary.unaccounted })}\n`);
    return { figures: figures(name, "sync", summary.rowsRead, summary.rowsRead, summary.syncMs, log, summary.created), summary, log };
  };
  const s1 = await run("1. first sync");
  out.push({ ...s1, perSecond: perSecond(s1.log) });
  out.push(await run("2. re-sync, no change"));
  const db = new PGlite(join(stateDir, "warehouse"));
  const changed = await changeOnePercent(db);
  await db.close();
  out.push(await run(`3. re-sync, ${changed} rows (1%) changed`));
  return out;
}

// A baseline on the same emulator settings (and the demo's roles): the naive script on a prefix of the rows, or
// the competent one on its own rows, each with a fresh tenant.
async function baselineScenarios(approach: Exclude<Approach, "sync">) {
  const rows = approach === "naive" ? BASELINE_ROWS : COMPETENT_ROWS;
  const db = new PGlite();
  await createDemoTable(db);
  await insertRows(db, DEMO_TABLE, cleanRows(N).slice(0, rows) as unknown as Record<string, unknown>[]);
  const redshiftEmulator = new RedshiftDataEmulator({ db, pageSize: warehouseOf(config).pageSize });
  const redshift = new RedshiftDataClient({ endpoint: await redshiftEmulator.start(), region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
  const emulator = new Auth0Emulator({
    rate: RATE,
    burst: RATE,
    roles: DEMO_ROLES,
    connections: [{ name: config.auth0.connection, strategy: "auth0" }],
    faults: { latencyMs: LATENCY, jitterMs: JITTER },
  });
  const baseUrl = await emulator.start();
  // The naive script's client as before (sequential, it never meets the limit); the competent one's limiter spends
  // the whole budget, shared by all its workers.
  const pacer = approach === "naive" ? new Pacer({ rate: RATE, burst: RATE }) : competentPacer(RATE);
  const auth0 = new Auth0Adapter({
    ...auth0OptionsFromConfig({ ...config, auth0: { ...config.auth0, domain: emulator.domain, baseUrl } }, { clientId: DEFAULT_CLIENT_ID, clientSecret: DEFAULT_CLIENT_SECRET }, {}, pacer),
    baseUrl,
  });
  const sync = (): Promise<NaiveResult> => (approach === "naive" ? naiveSync(config, redshift, auth0) : competentSync(config, redshift, auth0, COMPETENT_CONCURRENCY));
  const out: Figures[] = [];
  try {
    const run = async (name: string) => {
      emulator.clearLog();
      const r = await sync();
      process.stderr.write(`${name} (${approach}, ${rows} rows): ${JSON.stringify({ created: r.created, updated: r.updated, unchanged: r.unchanged, rejected: r.rejected, elapsedS: r.elapsedMs / 1000 })}\n`);
      out.push(figures(name, approach, N, r.rows, r.elapsedMs, emulator.requestLog, r.created));
    };
    await run("1. first sync");
    await run("2. re-sync, no change");
    await changeOnePercent(db);
    await run("3. re-sync, 1% changed");
  } finally {
    await emulator.stop();
    await redshiftEmulator.stop();
    await db.close();
  }
  return out;
}

// The extractor alone at scale.
interface ExtractorFigures {
  rows: number;
  rowsPerS: number;
  sqsRequestsPer100Rows: number;
  messages: number;
  peakRssMb: number;
  elapsedS: number;
}

async function extractorScale(rows: number): Promise<ExtractorFigures> {
  const db = new PGlite();
  await createDemoTable(db);
  await insertGeneratedRows(db, rows);
  const redshiftEmulator = new RedshiftDataEmulator({ db, pageSize: warehouseOf(config).pageSize });
  const redshiftEndpoint = await redshiftEmulator.start();
  const sqsServer: Server = await createSqsServer({ port: 0, hostname: "127.0.0.1" });
  const sqsEndpoint = `http://127.0.0.1:${(sqsServer.address() as AddressInfo).port}`;
  const sqs = new SQSClient({ endpoint: sqsEndpoint, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } });
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `bench-${rows}` }))).QueueUrl!;
  try {
    const child = spawn(process.execPath, ["--import", "tsx", new URL("./extractor-child.ts", import.meta.url).pathname], {
      env: {
        ...process.env,
        NODE_OPTIONS: "",
        POWERTOOLS_LOG_LEVEL: "SILENT",
        POWERTOOLS_METRICS_DISABLED: "true",
        // The extractor alone, as before the roles: its figures stay comparable run to run.
        BENCH_CONFIG: JSON.stringify({ ...config, roles: undefined, source: { ...config.source, sql: "SELECT customer_id, email, first_name, last_name, phone, avatar_url, plan, tier, preferences, is_blocked FROM app_users" } }),
        BENCH_REDSHIFT: redshiftEndpoint,
        BENCH_SQS: sqsEndpoint,
        BENCH_QUEUE_URL: queueUrl,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let text = "";
    child.stdout.on("data", (c: Buffer) => (text += c.toString()));
    const code = await new Promise<number | null>((r) => child.on("close", r));
    if (code !== 0) throw new Error(`the extractor child exited with ${code}`);
    const r = JSON.parse(text.trim().split("\n").pop()!) as { rowsRead: number; messages: number; sqsRequests: number; elapsedMs: number; peakRssBytes: number };
    if (r.rowsRead !== rows) throw new Error(`the extractor read ${r.rowsRead} rows of ${rows}`);
    return { rows, rowsPerS: r.rowsRead / (r.elapsedMs / 1000), sqsRequestsPer100Rows: (r.sqsRequests / r.rowsRead) * 100, messages: r.messages, peakRssMb: r.peakRssBytes / 2 ** 20, elapsedS: r.elapsedMs / 1000 };
  } finally {
    sqsServer.closeAllConnections();
    sqsServer.close();
    await redshiftEmulator.stop();
    await db.close();
  }
}

// Main.
const fmt = (v: number, d = 1) => v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const root = mkdtempSync(join(tmpdir(), "auth0-sync-bench-"));
const startedAt = new Date();
const loadStart = loadavg()[0]!;

/** The reconcile's scenarios as Markdown: the snapshot reader's memory, then onboarding. */
function reconcileLines(memory: SnapshotMemoryFigures[], onboard: OnboardingFigures | undefined): string[] {
  const lines: string[] = [];
  if (memory.length > 0) {
    const meta = memory[0]!;
    lines.push(
      "",
      `Snapshot reader (\`Auth0Snapshot\`: export job, then the gzip NDJSON streamed and the users counted), in a process of its own; the emulator, which holds the tenant, in the parent. Users with every profile field and ${fmt(meta.metadataBytesPerUser, 0)} bytes of metadata (about ${fmt(meta.lineBytesPerUser, 0)} bytes a line); memory sampled every 20 ms and every 1,000 users; "before" after a full GC, once the modules are loaded; "after GC" once the users are read and a full GC ran:`,
      "",
      "| users | V8 old space | file (MB, gzip) | job wait (s) | stream (s) | users/s | heapUsed before (MB) | peak heapUsed (MB) | heapUsed after GC (MB) | RSS before (MB) | peak RSS (MB) |",
      "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const m of memory) {
      lines.push(
        `| ${fmt(m.users, 0)} | ${m.oldSpaceCapMb === undefined ? "default" : `capped at ${m.oldSpaceCapMb} MB`} | ${fmt(m.fileMb)} | ${fmt(m.waitS)} | ${fmt(m.streamS)} | ${fmt(m.usersPerS, 0)} | ${fmt(m.beforeHeapMb)} | ${fmt(m.peakHeapUsedMb)} | ${fmt(m.afterGcHeapMb)} | ${fmt(m.beforeRssMb)} | ${fmt(m.peakRssMb)} |`,
      );
    }
    for (const cap of [undefined, SNAPSHOT_CAP_MB]) {
      const runs = memory.filter((m) => m.oldSpaceCapMb === cap);
      if (runs.length < 2) continue;
      const lo = runs[0]!;
      const hi = runs.at(-1)!;
      lines.push(
        "",
        `${cap === undefined ? "Default heap" : `Old space capped at ${cap} MB`}: at ${fmt(hi.users, 0)} users / at ${fmt(lo.users, 0)} (${fmt(hi.users / lo.users, 0)}x the users): peak heapUsed ${fmt(hi.peakHeapUsedMb / lo.peakHeapUsedMb, 2)}x, peak RSS ${fmt(hi.peakRssMb / lo.peakRssMb, 2)}x, heapUsed after GC ${fmt(hi.afterGcHeapMb / lo.afterGcHeapMb, 2)}x.`,
      );
    }
  }
  if (onboard) {
    const o = onboard;
    const row = (label: string, s: { calls: number; status429: number; wallS: number }, outcome: string) => `| ${label} | ${fmt(s.calls, 0)} | ${fmt(s.calls / o.usersInTenant, 3)} | ${fmt(s.status429, 0)} | ${fmt(s.wallS)} | ${outcome} |`;
    const sum = (x: OnboardingFigures["plainSync"]["summary"]) => `created ${x.created}, updated ${x.updated}, unchanged ${x.unchanged}, rejected ${x.rejected}`;
    const routes = (steps: [string, { byRoute: Record<string, number> }][]) =>
      steps.map(([k, s]) => `(${k}) ${Object.entries(s.byRoute).map(([route, n]) => `${route.replace(/ 20\d$/, "").replace("/api/v2", "")} x${n}`).join(", ") || "none"}`).join("; ");
    const afterRows = (a: OnboardingAfter, tag: string) => [
      row(`(b${tag}) reconcile`, a.reconcile, `adopted ${a.reconcile.adopted}, ambiguous ${a.reconcile.ambiguous}, unclaimed ${a.reconcile.unclaimed}, repairs queued ${a.reconcile.repairsQueued}, ${a.reconcile.invocations} invocation(s)`),
      row(`(c${tag}) next sync`, a.nextSync, sum(a.nextSync.summary)),
      row(`(d${tag}) the sync after`, a.syncAfter, sum(a.syncAfter.summary)),
    ];
    const bar = (a: OnboardingAfter, tag: string) =>
      `(b${tag}) + (c${tag}) = ${fmt(a.reconcileAndNextSync, 0)}: ${a.reconcileAndNextSync <= o.bar ? "met" : "NOT met"}; without the ${o.differing} PATCHes of the differing users, ${fmt(a.withoutPatches, 0)}: ${a.withoutPatches <= o.bar ? "met" : "NOT met"}`;
    const c = o.atConfigBudget;
    lines.push(
      "",
      `Onboarding a tenant that already holds the users: ${fmt(o.rows, 0)} demo rows, ${fmt(o.usersInTenant, 0)} users created by a first sync (state A) with config/example.yml${o.organizations ? " (organizations included)" : ""}; its tenant copied, with no ledger, into state B, with ${o.differing} user${o.differing === 1 ? "" : "s"} (every 100th) edited to differ; B's tenant copied into state C for the plain sync${c ? " and into state D for (b)-(d) at the config's own budget" : ""}. (a)-(d) at ${ONBOARD_RATE} requests/s (the emulator and the sync: ${o.consumerInstances} consumer instances)${c ? `; (b')-(d') at example.yml's own budget (${c.consumerInstances} consumer instances)` : ""}; calls are the Management API requests the emulator answered (tokens and the export file's download not counted):`,
      "",
      "| step | Auth0 calls | calls/user | 429s | time (s) | outcome |",
      "| --- | ---: | ---: | ---: | ---: | --- |",
      row("(a) plain sync, empty ledger (C)", o.plainSync, sum(o.plainSync.summary)),
      ...afterRows(o, ""),
      ...(c ? afterRows(c, "'") : []),
      "",
      `Calls by route: ${routes([["a", o.plainSync], ["b", o.reconcile], ["c", o.nextSync], ["d", o.syncAfter], ...(c ? ([["b'", c.reconcile], ["c'", c.nextSync], ["d'", c.syncAfter]] as [string, { byRoute: Record<string, number> }][]) : [])])}.`,
      "",
      `Target of issue 14: (b) + (c) <= 1% of (a) + 1 per differing user = ${fmt(o.plainSync.calls * 0.01)} + ${o.differing} = ${fmt(o.target)}; measured ${fmt(o.reconcileAndNextSync, 0)}: ${o.met ? "met" : "NOT met"}.`,
      `Bar of issue 24: (b) + (c) <= ${o.bar}: ${bar(o, "")}${c ? `. At the config's budget: ${bar(c, "'")}` : ""}.`,
    );
  }
  return lines;
}

try {
  const share = consumerBudget(config);
  const machine = { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` };
  const lines: string[] = [];
  let sync: Awaited<ReturnType<typeof syncScenarios>> = [];
  let naive: Figures[] = [];
  let competent: Figures[] = [];
  const extractor: ExtractorFigures[] = [];
  let rateFigures: RateScenariosFigures | undefined;
  let matched: MatchedFigures | undefined;
  const say = (line: string) => {
    done();
    process.stderr.write(`${line}\n`);
  };
  if (RUN_MAIN) {
    process.stderr.write(`bench: ${N} rows, budget ${RATE} requests/s (burst ${RATE}), latency ${LATENCY} ms + up to ${JITTER} ms, ${share.maxConcurrency} consumer instances\n`);
    sync = await syncScenarios(root);
    naive = await baselineScenarios("naive");
    competent = await baselineScenarios("competent");
    for (let i = 0; i < 3; i++) {
      const s = sync[i]!.figures;
      s.speedup = naive[i]!.wallS / s.wallS;
      s.speedupVsCompetent = competent[i]!.wallS / s.wallS;
      competent[i]!.speedup = naive[i]!.wallS / competent[i]!.wallS;
    }
    const s1 = sync[0]!.figures;
    matched = {
      source: `scenario 1, ${fmt(N, 0)} users`,
      rows: N,
      rate: RATE,
      consumerInstances: share.maxConcurrency,
      syncS: s1.wallS,
      calls: s1.calls,
      status429: s1.status429,
      share429: s1.share429,
      utilisation: s1.utilisation,
      callsPerNewUser: s1.callsPerNewUser,
      met: s1.utilisation >= TARGETS.matchedUtilisation,
    };
  }
  if (RUN_RATE) {
    process.stderr.write(`rate scenarios: ${RATE_ROWS} new users each, latency ${LATENCY} ms + up to ${JITTER} ms\n`);
    rateFigures = await rateScenarios({
      config,
      rows: RATE_ROWS,
      latencyMs: LATENCY,
      jitterMs: JITTER,
      root,
      matched: ONLY_RATE,
      matchedRate: RATE,
      matchedRows: N,
      before: !a["no-before"],
      onProgress: progress,
      log: say,
    });
    matched ??= rateFigures.matched;
  }
  let importFigures: ImportScenariosFigures | undefined;
  let createdWritesFigures: CreatedWritesFigures | undefined;
  if (RUN_IMPORT) {
    process.stderr.write(
      `import scenarios: first loads of ${IMPORT_ROWS} new users with roles, Enterprise (global 16/s, burst 50) and Professional, import path on all of them at ${IMPORT_USERS_PER_S} users/s a job, per-user path on ${IMPORT_PER_USER_ROWS.enterprise} and ${IMPORT_PER_USER_ROWS.professional} (extrapolated); load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}\n`,
    );
    importFigures = await importScenarios({
      config,
      rows: IMPORT_ROWS,
      perUserRows: IMPORT_PER_USER_ROWS,
      mixedRows: IMPORT_MIXED_ROWS,
      usersPerSecond: IMPORT_USERS_PER_S,
      latencyMs: LATENCY,
      jitterMs: JITTER,
      root,
      onProgress: progress,
      log: say,
    });
    // The per-user path for smaller creates: 300 users with one role at 10/s, roles through the writes queue.
    process.stderr.write("created writes: 300 new users with one role at 10/s, alone and with another client at half the bucket\n");
    createdWritesFigures = await createdWritesScenario({ config, root });
  }
  let watchFigures: WatchFigures | undefined;
  if (RUN_WATCH) {
    process.stderr.write(`watch: ${WATCH_EDITS} Dashboard edits of managed users at 2/s, repaired from the tenant's log stream\n`);
    watchFigures = await watchScenario({ config, root, edits: WATCH_EDITS, rows: WATCH_EDITS + 150, log: say });
  }
  if (RUN_MAIN && !a["no-extractor"]) for (const rows of EXTRACTOR_ROWS) extractor.push(await extractorScale(rows));
  const snapshotMemoryFigures: SnapshotMemoryFigures[] = [];
  let onboardingFigures: OnboardingFigures | undefined;
  let scaleFigures: ScaleFigures | undefined;
  let crashFigures: CrashFigures | undefined;
  if (RUN_SCALE) {
    process.stderr.write(`scale: the Data API path and the UNLOAD path at ${SCALE_ROWS.join(", ")} rows, ${SCALE_WORKERS} segment workers\n`);
    // The crash first: after the large tables the parent holds gigabytes, and its stand-ins (the emulator's token
    // endpoint among them) answer slowly enough for users to be dead-lettered.
    crashFigures = await segmentCrashScenario({ config, root, rows: CRASH_ROWS, slices: 4, killAfterSends: 3, log: say });
    scaleFigures = await scaleScenarios({ config, rows: SCALE_ROWS, workers: SCALE_WORKERS, maxFileSizeMb: SCALE_FILE_MB, resyncRows: RESYNC_ROWS, root, log: say });
  }
  if (RUN_RECONCILE) {
    for (const cap of [undefined, SNAPSHOT_CAP_MB]) {
      for (const users of SNAPSHOT_USERS) {
        process.stderr.write(`snapshot reader: ${users} users${cap === undefined ? "" : `, old space capped at ${cap} MB`}\n`);
        snapshotMemoryFigures.push(await snapshotMemory(users, cap));
      }
    }
    onboardingFigures = await onboarding({
      // The demo as config/example.yml has it, organizations included (issue 24: onboarding with organizations).
      config: parseConfig(example),
      atConfigBudget: true,
      rows: ONBOARD_ROWS,
      rate: ONBOARD_RATE,
      root,
      onProgress: progress,
      log: say,
    });
  }

  if (RUN_MAIN) {
    lines.push(
      `Auth0 emulator at ${RATE} requests/s (burst ${RATE}), ${LATENCY} ms + up to ${JITTER} ms latency; N = ${fmt(N, 0)} rows; ${share.maxConcurrency} consumer instances of ${fmt(share.buckets[GLOBAL_BUCKET]!.rps, 2)} requests/s each.`,
      `Users with their 1-2 roles (${config.roles ? `column ${config.roles.column}, removeUnlisted ${config.roles.removeUnlisted}` : "no roles"}); queue: ${config.queue.usersPerMessage} users a message, ${config.queue.batchSize} message(s) an invocation.`,
      `Wall time: this sync from the extractor's start to the last user's outcome (starting the local stand-ins and saving their state, ${sync.map((s) => fmt((s.summary.elapsedMs - s.summary.syncMs) / 1000)).join(", ")} s in scenarios 1-3, is not part of a run and not counted); the baselines from their start to their end. Naive: lookup, create or patch, roles, one row after another; competent: the same by ${COMPETENT_CONCURRENCY} workers through one client whose rate limiter spends the whole ${RATE}/s (burst ${RATE}), no ledger. Speedup: the baseline's wall time over this one's.`,
      "",
      "| scenario | approach | wall time (s) | Auth0 calls | calls/row | 429s | 429 share | utilisation | ideal time (s) | ideal/actual | speedup vs naive | speedup vs competent |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (let i = 0; i < 3; i++) {
      for (const f of [sync[i]!.figures, competent[i]!, naive[i]!]) {
        const note = f.measuredRows !== f.rows ? ` (measured on ${fmt(f.measuredRows, 0)} rows, x${fmt(f.rows / f.measuredRows, f.rows % f.measuredRows === 0 ? 0 : 2)})` : "";
        const label = f.approach === "sync" ? "this sync" : `${f.approach}${note}`;
        lines.push(
          `| ${f.scenario} | ${label} | ${fmt(f.wallS)} | ${fmt(f.calls, 0)} | ${fmt(f.callsPerRow, 3)} | ${fmt(f.status429, 0)} | ${fmt(f.share429 * 100, 2)}% | ${f.calls >= 50 ? `${fmt(f.utilisation * 100)}%` : "-"} | ${fmt(f.idealS)} | ${fmt(f.idealOverActual * 100)}% | ${f.speedup !== undefined ? `${fmt(f.speedup)}x` : ""} | ${f.speedupVsCompetent !== undefined ? `${fmt(f.speedupVsCompetent)}x` : ""} |`,
        );
      }
    }
    const s1 = sync[0]!;
    lines.push(
      "",
      `Calls per new user in scenario 1: this sync ${fmt(s1.figures.calls, 0)} calls / ${fmt(s1.summary.created, 0)} users created = ${fmt(s1.figures.callsPerNewUser, 3)} (target <= ${TARGETS.callsPerNewUser}: ${s1.figures.callsPerNewUser <= TARGETS.callsPerNewUser ? "met" : "NOT met"}); competent ${fmt(competent[0]!.callsPerNewUser, 3)}; naive ${fmt(naive[0]!.callsPerNewUser, 3)}.`,
      `Scenario 1 by route: ${Object.entries(routeCounts(s1.log)).map(([r, n]) => `${r} x${n}`).join(", ")}.`,
    );
  }
  if (rateFigures) lines.push(...rateScenarioLines(rateFigures, matched, `${LATENCY} ms + up to ${JITTER} ms latency`));
  if (importFigures) lines.push(...importScenarioLines(importFigures));
  if (createdWritesFigures) lines.push(...createdWritesLines(createdWritesFigures));
  if (watchFigures) lines.push(...watchLines(watchFigures));
  if (RUN_MAIN) {
    if (extractor.length > 0) {
      lines.push("", "Extractor alone (Data API emulator -> local SQS, no Auth0, no ledger), in a process of its own:", "", "| rows | rows/s | SQS requests per 100 rows | messages | peak RSS (MB) | time (s) |", "| ---: | ---: | ---: | ---: | ---: | ---: |");
      for (const e of extractor) lines.push(`| ${fmt(e.rows, 0)} | ${fmt(e.rowsPerS, 0)} | ${fmt(e.sqsRequestsPer100Rows, 2)} | ${fmt(e.messages, 0)} | ${fmt(e.peakRssMb, 0)} | ${fmt(e.elapsedS)} |`);
      if (extractor.length >= 2) lines.push("", `Peak RSS at ${fmt(extractor.at(-1)!.rows, 0)} rows / at ${fmt(extractor[0]!.rows, 0)} rows: ${fmt(extractor.at(-1)!.peakRssMb / extractor[0]!.peakRssMb, 2)}x.`);
    }
  }
  lines.push(...reconcileLines(snapshotMemoryFigures, onboardingFigures));
  if (scaleFigures) lines.push(...scaleLines(scaleFigures));
  if (crashFigures) lines.push(...crashLines(crashFigures));
  lines.push("", `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}; 1-minute load average ${loadStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end.`);
  if (lines[0] === "") lines.shift();
  const table = lines.join("\n");
  process.stdout.write(`${table}\n`);

  mkdirSync(OUT, { recursive: true });
  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: {
      rows: N,
      rate: RATE,
      burst: RATE,
      latencyMs: LATENCY,
      jitterMs: JITTER,
      baselineRows: BASELINE_ROWS,
      competentRows: COMPETENT_ROWS,
      competentConcurrency: COMPETENT_CONCURRENCY,
      rateRows: RUN_RATE ? RATE_ROWS : undefined,
      roles: config.roles !== undefined,
      queue: config.queue,
      consumerInstances: share.maxConcurrency,
      quick,
      only: a.only,
      snapshotUsers: RUN_RECONCILE ? SNAPSHOT_USERS : undefined,
      onboardRows: RUN_RECONCILE ? ONBOARD_ROWS : undefined,
      onboardRate: RUN_RECONCILE ? ONBOARD_RATE : undefined,
      snapshotOldSpaceCapMb: RUN_RECONCILE ? SNAPSHOT_CAP_MB : undefined,
      scaleRows: RUN_SCALE ? SCALE_ROWS : undefined,
      scaleWorkers: RUN_SCALE ? SCALE_WORKERS : undefined,
      scaleMaxFileMb: RUN_SCALE ? SCALE_FILE_MB : undefined,
      importRows: RUN_IMPORT ? IMPORT_ROWS : undefined,
      importPerUserRows: RUN_IMPORT ? IMPORT_PER_USER_ROWS : undefined,
      importUsersPerSecond: RUN_IMPORT ? IMPORT_USERS_PER_S : undefined,
      importMixedRows: RUN_IMPORT ? IMPORT_MIXED_ROWS : undefined,
      loadAverage: { start: loadStart, end: loadavg()[0] },
    },
    machine,
    scenarios: sync.map((s) => ({ ...s.figures, summary: { ...s.summary, rejections: undefined } })),
    baseline: naive,
    competent,
    rateScenarios: rateFigures && { ...rateFigures, matched },
    extractor,
    snapshotMemory: snapshotMemoryFigures,
    onboarding: onboardingFigures,
    scale: scaleFigures,
    crash: crashFigures,
    imports: importFigures,
    createdWrites: createdWritesFigures,
    watch: watchFigures,
    scenario1CallsPerSecond: sync[0]?.perSecond,
    table,
  };
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  writeFileSync(join(OUT, `${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  if (!RUN_MAIN) {
    process.stderr.write(`written: ${join(OUT, `${stamp}.json`)}\n`);
  } else {
    writeFileSync(join(OUT, "latest.json"), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(OUT, "latest.svg"), callsPerSecondSvg({ title: `Scenario 1: first sync of ${fmt(N, 0)} users, Auth0 calls per second`, perSecond: sync[0]!.perSecond ?? [], budget: RATE }));
    process.stderr.write(`written: ${join(OUT, `${stamp}.json`)}, ${join(OUT, "latest.json")}, ${join(OUT, "latest.svg")}\n`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
