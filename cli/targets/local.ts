/**
 * The CLI's `--local` target: the same commands on the local pipeline's state (.local-state by default). The
 * DLQ's messages persist there between runs, so `status` shows them and `redrive` moves them back with
 * StartMessageMoveTask and then runs the consumers until they are processed, as Lambda would. The only CLI file
 * that imports local/: cli/program.ts loads it with a dynamic import(), so the deployed path never loads the
 * emulators or PGlite.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lastReconcile, runsForStatus } from "../../functions/flows/run-status.js";
import { CopySample } from "../../functions/core/copy-sample.js";
import { transformOf } from "../../functions/core/config.js";
import { queueDepth, redrive } from "../../functions/adapters/sqs/redrive.js";
import type { SyncConfig } from "../../functions/core/config.js";
import type { Outcome } from "../../functions/core/outcomes.js";
import { LocalEnvironment, reportOfLocalRun, runLocalPipeline, runLocalReconcile, runLocalWatch, type LocalEnvironmentOptions } from "../../local/pipeline.js";
import { LocalStateError } from "../../local/state-dir.js";
import { realTenantFromEnv, RealTenantError } from "../../local/real-tenant.js";
import { describeDlqMessages } from "../dlq.js";
import { planRun, type PlanReport } from "../plan.js";
import {
  CliError,
  LOCAL_EMULATOR_RATE,
  type PlanOptions,
  type ReconcileOptions,
  type ReconcileReport,
  type RedriveExecutionOptions,
  type RedriveOptions,
  type RedriveReport,
  type RunOptions,
  type RunReport,
  type StatusOptions,
  type StatusReport,
  type Target,
  type WatchOptions,
  type WatchReport,
} from "./target.js";

/** The local runner's refusals (state in use, damaged state files) are the CLI's one-sentence errors. */
async function refusals<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof LocalStateError ? new CliError(err.message) : err;
  }
}

export interface LocalTargetOptions extends Omit<LocalEnvironmentOptions, "fresh" | "csv"> {
  config: SyncConfig;
  stateDir: string;
}

export class LocalTarget implements Target {
  readonly where: string;
  readonly warnings: string[] = [];

  constructor(private readonly opts: LocalTargetOptions) {
    this.where = `local state ${opts.stateDir}${opts.realTenant ? ` (tenant ${opts.realTenant.domain})` : ""}`;
  }

  /**
   * With AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET set, a real tenant instead of the emulator (as npm
   * start). `rate` (--local-rate) is one global budget for the sync and the emulated tenant; without it the emulator
   * runs at LOCAL_EMULATOR_RATE, and a real tenant gets the config's own budget: its buckets are real, and 200/s
   * against a tenant of 10/s made half the calls 429s.
   */
  static fromEnv(opts: LocalTargetOptions, env: Record<string, string | undefined>, rate?: number): LocalTarget {
    let realTenant;
    try {
      realTenant = realTenantFromEnv(env);
    } catch (err) {
      throw err instanceof RealTenantError ? new CliError(err.message) : err;
    }
    return new LocalTarget({ ...opts, realTenant, rate: rate ?? (realTenant ? undefined : LOCAL_EMULATOR_RATE) });
  }

  private requireState(): void {
    if (!LocalEnvironment.exists(this.opts.stateDir)) {
      throw new CliError(`No local state in ${this.opts.stateDir}. Run 'npm start' or 'auth0-sync run --local' first, or point --state at it.`);
    }
  }

  private async withEnvironment<T>(fn: (env: LocalEnvironment) => Promise<T>): Promise<T> {
    const env = await refusals(() => LocalEnvironment.start(this.opts));
    try {
      return await fn(env);
    } finally {
      await env.stop();
    }
  }

  /** Reads the warehouse, the ledger and the emulated tenant; saves nothing. */
  async plan(opts: PlanOptions): Promise<PlanReport> {
    // Like status: a missing or mistyped --state is refused, not filled with a new demo state.
    this.requireState();
    return this.withEnvironment(async (env) => {
      const sample = new CopySample(5, transformOf(env.config));
      const source = await env.rowSource(undefined, sample.add);
      return planRun({ config: env.config, source, sample, ledger: env.ledgerFor?.(), auth0: env.auth0Adapter(), maxLookups: opts.maxLookups, key: opts.key, onProgress: opts.onProgress });
    });
  }

  async run(opts: RunOptions): Promise<RunReport> {
    const s = await refusals(() =>
      runLocalPipeline({
        ...this.opts,
        approveMirror: opts.approveMirror,
        signal: opts.signal,
        onProgress: (p) => opts.onProgress?.({ phase: p.phase, done: p.done, total: p.total, elapsedMs: p.elapsedMs }),
      }),
    );
    return reportOfLocalRun(s);
  }

  /** The latest (or the named) failed execution kept in the local state, resumed where it failed and consumed. */
  async redriveExecution(opts: RedriveExecutionOptions): Promise<RunReport> {
    this.requireState();
    const s = await refusals(() =>
      runLocalPipeline({
        ...this.opts,
        redrive: opts.runId ?? true,
        signal: opts.signal,
        onProgress: (p) => opts.onProgress?.({ phase: p.phase, done: p.done, total: p.total, elapsedMs: p.elapsedMs }),
      }),
    );
    return reportOfLocalRun(s);
  }

  async status(opts: StatusOptions): Promise<StatusReport> {
    this.requireState();
    return this.withEnvironment(async (env) => {
      const ledger = env.ledgerFor?.();
      const dead = await env.peekDlq();
      const oldest = dead.reduce((m, d) => Math.min(m, d.sentAt ?? Infinity), Infinity);
      return {
        where: this.where,
        runs: ledger ? await runsForStatus(ledger, opts.runs) : [],
        // The local queue lives only while a run drains it.
        queue: { ...(await queueDepth(env.sqs, env.queueUrl)) },
        dlq: { visible: dead.length, inFlight: 0, oldestAgeSeconds: Number.isFinite(oldest) ? Math.round((Date.now() - oldest) / 1000) : undefined },
        dlqSample: await describeDlqMessages(dead.slice(0, opts.sample), ledger),
        lastReconcile: ledger ? await lastReconcile(ledger) : undefined,
        watch: ledger ? await ledger.watch.get() : undefined,
      };
    });
  }

  async redrive(opts: RedriveOptions): Promise<RedriveReport> {
    this.requireState();
    return this.withEnvironment(async (env) => {
      const { visible } = await queueDepth(env.sqs, env.dlqUrl);
      if (opts.dryRun) return { messages: visible, dryRun: true };
      const progress = await redrive(env.sqs, {
        dlqUrl: env.dlqUrl,
        dlqArn: env.dlqArn,
        queueArn: env.queueArn,
        ratePerSecond: opts.rate,
        signal: opts.signal,
        pollMs: opts.pollMs ?? 200,
        onProgress: opts.onProgress,
      });
      // Lambda would now pick the moved messages up: the local consumers do it here.
      const settled = new Map<string, Outcome>();
      await env.drain({ onOutcome: (e) => void (settled.has(e.key) || settled.set(e.key, e.outcome)) });
      const processed: Partial<Record<Outcome, number>> = {};
      for (const o of settled.values()) processed[o] = (processed[o] ?? 0) + 1;
      await env.save();
      const left = (await queueDepth(env.sqs, env.dlqUrl)).visible;
      return { messages: visible, progress, dryRun: false, processed, left };
    });
  }

  /** The real reconcile handler on the local state (the emulator's export job), then its repairs consumed. */
  async reconcile(opts: ReconcileOptions): Promise<ReconcileReport> {
    this.requireState();
    const started = Date.now();
    const r = await refusals(() => runLocalReconcile({ ...this.opts, dryRun: opts.dryRun }));
    const { invocations: _i, auth0CallsWithRepairs, repairOutcomes, ...result } = r;
    return { state: "completed", dryRun: opts.dryRun, ...result, repairOutcomes: opts.dryRun ? undefined : repairOutcomes, auth0Calls: auth0CallsWithRepairs, elapsedMs: Date.now() - started };
  }

  /** The real watch handler on the emulator's tenant log, its repairs applied by the real consumers, until Ctrl-C. */
  async watch(opts: WatchOptions): Promise<WatchReport> {
    this.requireState();
    if (this.opts.realTenant) throw new CliError("watch --local reads the Auth0 emulator's tenant log; a real tenant's log stream reaches a deployed stack (docs/watch.md). Unset AUTH0_DOMAIN to watch the emulator.");
    const signal = opts.signal ?? new AbortController().signal;
    let env: LocalEnvironment | undefined;
    let tokenFile: string | undefined;
    const s = await refusals(() =>
      runLocalWatch({
        ...this.opts,
        signal,
        batchWindowMs: opts.batchWindowMs,
        onBatch: (b) => b.notes.forEach((n) => opts.onNote?.(n)),
        onBus: () => {
          // A Dashboard session's token, for the operator's own edits (docs/watch.md): in a file, never printed.
          const emulator = env?.emulator;
          if (!emulator) return;
          const dashboardTokenFile = join(this.opts.stateDir, "dashboard-token");
          rmSync(dashboardTokenFile, { force: true });
          writeFileSync(dashboardTokenFile, `${emulator.dashboardToken()}\n`, { mode: 0o600, flag: "wx" });
          tokenFile = dashboardTokenFile;
          opts.onReady?.({ baseUrl: emulator.baseUrl, dashboardTokenFile });
        },
        onEnvironment: (e) => void (env = e),
      }),
    );
    // The token dies with the emulator: its file goes too.
    if (tokenFile) rmSync(tokenFile, { force: true });
    return { ...s, repairOutcomes: Object.fromEntries(Object.entries(s.repairOutcomes).filter(([, n]) => n > 0)) };
  }

  async close(): Promise<void> {}
}
