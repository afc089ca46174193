/**
 * A SIGKILLed segment worker (issue 26's target): a first sync of `rows` clean demo users over an unloaded table
 * through the local pipeline (the state machine's definition, the real consumers, the Auth0 emulator), with every
 * segment worker a child process of its own (bench/segment-child.ts). The first worker of segment 0 is SIGKILLed once
 * it has sent `killAfterSends` batches; the Map retries it as the deployed definition says. Measured: how the run
 * ended, its accounting (the report and the run's ledger record), the tenant's users (none twice), and what the
 * retried worker found already settled.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ledger } from "../functions/adapters/ledger/ledger.js";
import { parseConfig, type SyncConfig } from "../functions/core/config.js";
import { recordUnaccounted as unaccountedOf } from "../functions/core/runs.js";
import type { Segment, SegmentTally } from "../functions/core/segments.js";
import type { TenantState } from "../local/auth0-emulator.js";
import { startDynamo } from "../local/dynamo.js";
import { runLocalPipeline, type LocalEnvironment, type LocalRunSummary } from "../local/pipeline.js";
import { perUserCreates } from "./create-path.js";
import { cleanRows, writeWarehouse } from "./warehouse.js";

export interface CrashOptions {
  config: SyncConfig;
  root: string;
  rows: number;
  /** Files UNLOAD writes (the emulated cluster's slices): segments. */
  slices: number;
  killAfterSends: number;
  log: (line: string) => void;
}

export interface CrashFigures {
  rows: number;
  segments: number;
  summary: Pick<LocalRunSummary, "runId" | "rowsRead" | "created" | "updated" | "unchanged" | "rejected" | "deadLettered" | "unaccounted" | "auth0Calls" | "auth0Status429" | "segments" | "syncMs">;
  /** The run's ledger record: rows read less every outcome recorded (what `status` shows: the DLQ's users are among them). */
  recordUnaccounted: number;
  tenantUsers: number;
  distinctEmails: number;
  /** Batches the killed worker had sent, the retried worker's rows found settled by the run, and the rows it sent. */
  killed: { segment: number; sendsBeforeKill: number; retrySettledEarlier: number; retryEnqueued: number; attempts: number };
  /** POST /users answered 409 (a create sent twice, resolved to the existing user). */
  createConflicts: number;
  met: boolean;
}

type ChildOut = { tally?: SegmentTally; error?: { name: string; message: string } };

export async function segmentCrashScenario(o: CrashOptions): Promise<CrashFigures> {
  const stateDir = join(o.root, "crash");
  await writeWarehouse(stateDir, cleanRows(o.rows));
  // `create.bulk: off`: the scenario is about the per-user path's idempotence (a resent create meets 409 and is
  // resolved to the user the first delivery created); with the default `auto` its 20,000 new users would go through
  // Auth0 import jobs (issue 27) and no 409 would be counted.
  const raw = JSON.parse(JSON.stringify(perUserCreates(o.config))) as Record<string, Record<string, unknown>>;
  const config = parseConfig(JSON.stringify({ ...raw, source: { ...raw.source, extract: "unload", unload: { iamRole: "default", maxFileSizeMb: 5, maxConcurrency: 2 } } }));
  const killed = { segment: 0, sendsBeforeKill: 0, retrySettledEarlier: 0, retryEnqueued: 0, attempts: 0 };
  let segments = 0;
  let env: LocalEnvironment | undefined;
  const worker = (event: unknown, e: LocalEnvironment): Promise<SegmentTally> => {
    const { runId, segment } = event as { runId: string; segment: Segment };
    segments = Math.max(segments, segment.index + 1);
    const ends = e.workerEndpoints();
    const victim = segment.index === killed.segment && killed.attempts++ === 0;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", new URL("./segment-child.ts", import.meta.url).pathname], {
        env: {
          ...process.env,
          BENCH_CONFIG: JSON.stringify(config),
          BENCH_S3: ends.s3,
          BENCH_SQS: ends.sqs,
          BENCH_QUEUE_URL: ends.queueUrl,
          BENCH_DYNAMO: ends.ledger,
          BENCH_LEDGER_TABLE: ends.ledgerTable,
          BENCH_RUN_ID: runId,
          BENCH_SEGMENT: JSON.stringify(segment),
          BENCH_REPORT_SENDS: "1",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => {
        if (!victim) return;
        killed.sendsBeforeKill += (d.toString().match(/^sent$/gm) ?? []).length;
        if (killed.sendsBeforeKill >= o.killAfterSends && child.exitCode === null) {
          o.log(`crash: SIGKILL to segment ${segment.index}'s worker after ${killed.sendsBeforeKill} sends`);
          child.kill("SIGKILL");
        }
      });
      child.on("close", (code, signal) => {
        // What Lambda reports of a runtime that died: the Map's retry (States.ALL) takes it.
        if (signal) return reject(Object.assign(new Error(`Runtime exited with error: signal: ${signal.toLowerCase()}`), { name: "Runtime.ExitError" }));
        const last = out.trim().split("\n").at(-1) ?? "{}";
        const parsed = JSON.parse(last) as ChildOut;
        if (code !== 0 || !parsed.tally) return reject(Object.assign(new Error(parsed.error?.message ?? `exit ${code}`), { name: parsed.error?.name ?? "Error" }));
        if (segment.index === killed.segment) {
          killed.retrySettledEarlier = parsed.tally.settledEarlier ?? 0;
          killed.retryEnqueued = parsed.tally.enqueued;
        }
        resolve(parsed.tally);
      });
    });
  };
  o.log(`crash: a first sync of ${o.rows.toLocaleString("en-US")} users, ${o.slices} segments, each worker a process; segment 0's first worker SIGKILLed`);
  const summary = await runLocalPipeline({ config, stateDir, rate: 3000, slices: o.slices, segmentWorker: worker, onEnvironment: (e) => void (env = e) });
  const conflicts = (env?.emulator?.requestLog ?? []).filter((r) => r.method === "POST" && r.route === "/api/v2/users" && r.status === 409).length;
  const dynamo = await startDynamo(join(stateDir, "ledger"));
  let recordUnaccounted: number;
  try {
    const run = await new Ledger(dynamo.client, `auth0-sync-${config.name}-ledger`).runs.get(summary.runId);
    recordUnaccounted = run?.summary ? unaccountedOf(run) : -1;
  } finally {
    await dynamo.stop();
  }
  const users = (JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState).users;
  const distinctEmails = new Set(users.map((u) => u.email)).size;
  const { runId, rowsRead, created, updated, unchanged, rejected, deadLettered, unaccounted, auth0Calls, auth0Status429, syncMs } = summary;
  return {
    rows: o.rows,
    segments,
    summary: { runId, rowsRead, created, updated, unchanged, rejected, deadLettered, unaccounted, auth0Calls, auth0Status429, segments: summary.segments, syncMs },
    recordUnaccounted,
    tenantUsers: users.length,
    distinctEmails,
    killed,
    createConflicts: conflicts,
    // Each user one outcome (created; or, two raced deliveries of one user, that of the delivery that settled it first;
    // or dead-lettered after a passing failure, for a redrive), and no user twice in the tenant.
    met:
      killed.attempts >= 2 &&
      killed.sendsBeforeKill >= o.killAfterSends &&
      rowsRead === o.rows &&
      created + updated + unchanged + deadLettered === o.rows &&
      unaccounted === 0 &&
      recordUnaccounted === deadLettered &&
      distinctEmails === users.length &&
      users.length >= o.rows - deadLettered,
  };
}

export function crashLines(c: CrashFigures): string[] {
  const n = (v: number) => v.toLocaleString("en-US");
  return [
    "",
    `A SIGKILLed segment worker (${n(c.rows)} users, ${c.segments} segments, each worker a process; the first worker of segment ${c.killed.segment} killed after ${c.killed.sendsBeforeKill} SendMessageBatch calls, the Map's retry running it again):`,
    "",
    "| rows read | created / updated / unchanged | dead-lettered | unaccounted (report / run record) | tenant users | distinct emails | retried worker: already settled / sent | 409s on create | Auth0 calls (429s) | sync (s) | target |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    `| ${n(c.summary.rowsRead)} | ${n(c.summary.created)} / ${n(c.summary.updated)} / ${n(c.summary.unchanged)} | ${n(c.summary.deadLettered)} | ${c.summary.unaccounted} / ${c.recordUnaccounted} | ${n(c.tenantUsers)} | ${n(c.distinctEmails)} | ${n(c.killed.retrySettledEarlier)} / ${n(c.killed.retryEnqueued)} | ${n(c.createConflicts)} | ${n(c.summary.auth0Calls)} (${n(c.summary.auth0Status429)}) | ${(c.summary.syncMs / 1000).toFixed(1)} | ${c.met ? "met" : "NOT met"} |`,
  ];
}
