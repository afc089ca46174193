/**
 * `auth0-sync`: the operator CLI. plan (dry run), run, status and redrive, against a deployed stack (found from
 * its CloudFormation outputs) or, with --local, against the local pipeline's state.
 */
import { existsSync, readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ConfigError, parseConfig, type SyncConfig } from "../functions/core/config.js";
import { RedriveError } from "../functions/adapters/sqs/redrive.js";
import { formatPlan, formatRedrive, formatRun, formatStatus } from "./format.js";
import { formatReconcile } from "./format-reconcile.js";
import { formatWatchNote, formatWatchReport } from "./format-watch.js";
import type { PlannedChange } from "./plan.js";
import { ProgressLine, type ProgressWriter } from "./progress.js";
import { AwsTarget } from "./targets/aws.js";
import { explainAwsError, type AwsClients, type AwsTimeouts } from "./targets/aws-clients.js";
import { runExitCode } from "./runs.js";
import { CliError, LOCAL_EMULATOR_RATE, type RunProgress, type RunReport, type Target } from "./targets/target.js";

export interface CliIo {
  stdout: ProgressWriter;
  stderr: ProgressWriter;
  env?: Record<string, string | undefined>;
  /** Aborted on Ctrl-C: a redrive then cancels its move task. */
  signal?: AbortSignal;
  /** AWS clients to use instead of the default chain (tests). */
  awsClients?: Partial<AwsClients>;
  /** AWS timeouts instead of the defaults (tests shorten them). */
  awsTimeouts?: Partial<AwsTimeouts>;
  /** Poll interval of run and redrive (tests shorten it). */
  pollMs?: number;
}

interface GlobalOptions {
  stack?: string;
  local?: boolean;
  state: string;
  config?: string;
  region?: string;
  profile?: string;
  json?: boolean;
  localRate?: number;
}

const DEFAULT_CONFIG = "config/example.yml";

function int(min: number, max: number) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min || x > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return x;
  };
}

function loadConfigFile(path: string): SyncConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError(`Cannot read the config ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  try {
    return parseConfig(text, path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

async function openTarget(g: GlobalOptions, io: CliIo): Promise<Target & { warnings: string[] }> {
  const env = io.env ?? process.env;
  const configPath = g.config ?? env.SYNC_CONFIG_FILE ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  if (g.local) {
    if (g.stack) throw new CliError("Give either --local or --stack, not both.");
    if (!configPath) throw new CliError(`--local needs a sync config: --config FILE (or ${DEFAULT_CONFIG}).`);
    const config = loadConfigFile(configPath);
    // The local runtime (emulators, PGlite) is loaded only here: the deployed path never touches it.
    const { LocalTarget } = await import("./targets/local.js");
    return LocalTarget.fromEnv({ config, stateDir: g.state }, env, g.localRate);
  }
  const config = configPath ? loadConfigFile(configPath) : undefined;
  const stackName = g.stack ?? (config ? `auth0-sync-${config.name}` : undefined);
  if (!stackName) throw new CliError("Which stack? Give --stack NAME, or --config FILE (the stack is auth0-sync-<name>), or --local.");
  return AwsTarget.open({ stackName, region: g.region, profile: g.profile, config, clients: io.awsClients, timeouts: io.awsTimeouts });
}

/** Runs the CLI; returns the exit code (0 done, 1 the operation did not finish well, 2 usage or precondition, 3 held). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const print = (s: string) => io.stdout.write(`${s}\n`);
  let exitCode = 0;
  const program = new Command("auth0-sync")
    .description("Operate an Auth0 <- Redshift user sync: plan, run, status, redrive, reconcile, watch.")
    .addOption(new Option("--stack <name>", "deployed stack to act on (default: auth0-sync-<name> from the config)"))
    .addOption(new Option("--local", "act on the local pipeline's state instead of AWS"))
    .addOption(new Option("--state <dir>", "local state directory (with --local)").default(".local-state"))
    .addOption(new Option("--config <file>", `sync config (default: $SYNC_CONFIG_FILE or ${DEFAULT_CONFIG})`))
    .addOption(new Option("--region <region>", "AWS region (default: the standard chain, e.g. AWS_REGION)"))
    .addOption(new Option("--profile <profile>", "AWS profile (default: the standard chain, e.g. AWS_PROFILE)"))
    .addOption(
      new Option("--local-rate <rps>", `with --local: requests per second of the sync and of the Auth0 emulator (default ${LOCAL_EMULATOR_RATE}; against a real tenant, AUTH0_DOMAIN set, the config's budget)`).argParser(int(1, 10_000)),
    )
    .addOption(new Option("--json", "print the result as one JSON object"))
    .showHelpAfterError("(run with --help for the options)")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  /** A run started (by `run`, or `redrive --execution`) and followed: the progress line, the report, its exit code. */
  const followed = async (g: GlobalOptions, start: (onProgress: (p: RunProgress) => void) => Promise<RunReport>): Promise<number> => {
    const progress = new ProgressLine(io.stderr, !g.json);
    const report = await start((p) => progress.update(p.phase, p.done, p.total, p.elapsedMs, p.phase === "done"));
    progress.end();
    print(g.json ? JSON.stringify(report) : formatRun(report));
    return runExitCode(report);
  };

  const withTarget = async (cmd: Command, fn: (t: Target, g: GlobalOptions) => Promise<number>) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const target = await openTarget(g, io);
    try {
      for (const w of target.warnings) io.stderr.write(`warning: ${w}\n`);
      exitCode = await fn(target, g);
    } finally {
      await target.close();
    }
  };

  program
    .command("plan")
    .description("Dry run: extract and plan, write nothing; counts per operation and field-level changes.")
    .addOption(new Option("--all", "show every change, not a sample"))
    .addOption(new Option("--key <key>", "what the run does with this identity key's row (the key column's value; the email when the identity is the email)"))
    .addOption(new Option("--sample <n>", "changes shown").argParser(int(0, 10_000)).default(5))
    .addOption(new Option("--lookups <n>", "at most this many Auth0 reads for users the ledger does not know").argParser(int(0, 1_000_000)).default(500))
    .action(async (o: { all?: boolean; key?: string; sample: number; lookups: number }, cmd: Command) =>
      withTarget(cmd, async (t, g) => {
        const progress = new ProgressLine(io.stderr, !g.json);
        const started = Date.now();
        const report = await t.plan({ maxLookups: o.lookups, key: o.key, onProgress: (p) => progress.update("extract", p.rowsRead, p.totalRows ?? 0, Date.now() - started) });
        progress.end();
        let shown: PlannedChange[] = o.all ? report.changes : report.changes.slice(0, o.sample);
        if (o.key !== undefined) shown = report.forKey?.change ? [report.forKey.change] : [];
        if (g.json) print(JSON.stringify(o.all || o.key !== undefined ? { ...report, changes: shown } : report));
        else print(formatPlan(t.where, report, shown, o.key));
        return 0;
      }),
    );

  program
    .command("run")
    .description("Start a sync now (invoke the extractor, or run the local pipeline) and follow it to the end.")
    .addOption(new Option("--approve-mirror", "approve this run's blocks/deletes even over the mirror threshold"))
    .addOption(new Option("--no-wait", "start the run and return at once"))
    .addOption(new Option("--timeout <seconds>", "stop following after this long (the run goes on)").argParser(int(1, 86_400)).default(3600))
    .action(async (o: { approveMirror?: boolean; wait: boolean; timeout: number }, cmd: Command) =>
      withTarget(cmd, (t, g) =>
        followed(g, (onProgress) => t.run({ approveMirror: o.approveMirror === true, wait: o.wait, timeoutSeconds: o.timeout, pollMs: io.pollMs, signal: io.signal, onProgress })),
      ),
    );

  program
    .command("status")
    .description("Last runs, queue and DLQ depths, oldest message age, alarm states, and a sample of DLQ messages with reasons.")
    .addOption(new Option("--runs <n>", "runs shown").argParser(int(1, 100)).default(5))
    .addOption(new Option("--sample <n>", "DLQ messages sampled (read without consuming them)").argParser(int(0, 10)).default(5))
    .action(async (o: { runs: number; sample: number }, cmd: Command) =>
      withTarget(cmd, async (t, g) => {
        const s = await t.status({ runs: o.runs, sample: o.sample });
        print(g.json ? JSON.stringify(s) : formatStatus(s));
        return 0;
      }),
    );

  program
    .command("redrive")
    .description("Move the DLQ's messages back to the main queue (SQS message move task) and follow it; Ctrl-C cancels. With --execution, redrive a failed run over an unloaded table instead (Step Functions' redrive) and follow the run.")
    .addOption(new Option("--rate <n>", "messages per second (1-500; default: as fast as SQS allows)").argParser(int(1, 500)))
    .addOption(new Option("--dry-run", "print how many messages would move, move nothing"))
    .addOption(new Option("--execution [run-id]", "redrive the failed execution of this run (default: the latest failed run): it resumes where it failed and completes the run"))
    .addOption(new Option("--no-wait", "with --execution: start the redrive and return at once"))
    .addOption(new Option("--timeout <seconds>", "with --execution: stop following after this long (the run goes on)").argParser(int(1, 86_400)).default(3600))
    .action(async (o: { rate?: number; dryRun?: boolean; execution?: string | true; wait: boolean; timeout: number }, cmd: Command) =>
      withTarget(cmd, async (t, g) => {
        if (o.execution !== undefined) {
          if (o.dryRun || o.rate !== undefined) throw new CliError("--execution redrives a run, not the DLQ: --dry-run and --rate do not apply to it.");
          const runId = o.execution === true ? undefined : o.execution;
          return followed(g, (onProgress) => t.redriveExecution({ runId, wait: o.wait, timeoutSeconds: o.timeout, pollMs: io.pollMs, signal: io.signal, onProgress }));
        }
        const progress = new ProgressLine(io.stderr, !g.json);
        const started = Date.now();
        const r = await t.redrive({
          rate: o.rate,
          dryRun: o.dryRun === true,
          signal: io.signal,
          pollMs: io.pollMs,
          onProgress: (p) => progress.update("moving", p.moved, p.toMove ?? 0, Date.now() - started, p.status !== "RUNNING"),
        });
        progress.end();
        print(g.json ? JSON.stringify(r) : formatRedrive(r));
        return r.progress?.status === "CANCELLED" ? 1 : 0;
      }),
    );

  program
    .command("reconcile")
    .description("Read the tenant (an export job), repair drift on what the sync owns, adopt users the ledger does not know; prints the drift by user and field.")
    .addOption(new Option("--dry-run", "read and report only: no ledger write, no repair"))
    .action(async (o: { dryRun?: boolean }, cmd: Command) =>
      withTarget(cmd, async (t, g) => {
        const r = await t.reconcile({ dryRun: o.dryRun === true });
        print(g.json ? JSON.stringify(r) : formatReconcile(r));
        return 0;
      }),
    );

  program
    .command("watch")
    .description("With --local: watch the emulated tenant's log and repair another client's edits of managed users until Ctrl-C (a stack's watch runs by itself; `status` shows it).")
    .addOption(new Option("--window <ms>", "the event source's batching window (default: the deployed 5000)").argParser(int(0, 300_000)))
    .action(async (o: { window?: number }, cmd: Command) =>
      withTarget(cmd, async (t, g) => {
        if (!g.json) io.stderr.write("watching the tenant's log; edit a managed user as another client (docs/watch.md); Ctrl-C stops\n");
        const r = await t.watch({
          signal: io.signal,
          batchWindowMs: o.window,
          onNote: (n) => !g.json && print(formatWatchNote(n)),
          onReady: ({ baseUrl, dashboardTokenFile }) =>
            io.stderr.write(`the Auth0 emulator is at ${baseUrl}; edit a user as a Dashboard admin would with the token in ${dashboardTokenFile} (docs/watch.md)\n`),
        });
        print(g.json ? JSON.stringify(r) : formatWatchReport(r));
        return 0;
      }),
    );

  // --json promises one JSON object on stdout: a failure prints {"error": "..."} there too (and its sentence on stderr).
  const json = argv.includes("--json");
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const known = err instanceof RedriveError ? new CliError(err.message) : explainAwsError(err);
    const message = known?.message ?? (err instanceof Error ? err.message : String(err));
    if (json) print(JSON.stringify({ error: message }));
    if (known) {
      io.stderr.write(`${known.message}\n`);
      return known.exitCode;
    }
    const debug = (io.env ?? process.env).AUTH0_SYNC_DEBUG;
    io.stderr.write(`${message}\n`);
    if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    else io.stderr.write("(set AUTH0_SYNC_DEBUG=1 for details)\n");
    return 1;
  }
}
