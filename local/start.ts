/**
 * `npm start`: run the sync locally. See `npm start -- --help`.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { numberOption } from "./cli-args.js";
import { realTenantFromEnv, type RealTenant } from "./real-tenant.js";

const HELP = `Usage: npm start -- [options]

Runs the whole pipeline on this machine: warehouse (PGlite) -> Redshift Data API emulator -> extractor
Lambda -> local SQS (queue + DLQ) -> consumer Lambdas -> Auth0 emulator. State persists in .local-state/,
so a second run shows the incremental behaviour.

Options:
  --config FILE        sync definition (default config/example.yml)
  --csv FILE           load rows from a CSV (header line) into the table the config's SQL reads
  --rows N             rows generated into a new demo warehouse or source tenant (default 2000)
  --fresh              start over: new warehouse and empty tenant
  --fail-rate R        share of Auth0 emulator answers that are 5xx (0..1)
  --latency-ms M       latency added to every Auth0 emulator answer
  --rate RPS           requests per second of the emulated tenant and of the sync (default 200;
                       a real Enterprise tenant allows 16; against a real tenant the config's budget)
  --state DIR          where state persists (default .local-state)
  --extract MODE       auto, data-api or unload: how the warehouse is read, over the config's source.extract
                       (unload: UNLOAD to a local S3 as Parquet, then the state machine's Distributed Map of
                       segment workers; auto: the query first, its result read through the Data API up to
                       source.unload.autoDataApiMaxMb, unloaded above; without source.unload the cluster's
                       default role is used)
  --redrive            redrive the latest failed execution of a run over an unloaded table: it resumes where
                       it failed and completes that run (a given run: auth0-sync redrive --execution RUN --local)
  --slices N           slices of the emulated cluster: UNLOAD writes a file or more per slice (default 2)
  --json               print the summary as one JSON object
  --verbose            show the Lambdas' structured logs
  -h, --help           this text

With --config config/tenant-copy.yml the source is a second emulated tenant (production, seeded with
--rows demo users, kept in <state>/source-tenant.json) copied pseudonymised into the target
(docs/tenant-copy.md); edit that file between runs to see a refresh.

With AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET set, users go to that tenant instead of the
emulator (AUTH0_BASE_URL points at any Auth0-compatible URL). Ctrl-C stops the run cleanly (again: at once).
Exit codes: 1 a user without an outcome (or the run failed, was skipped or interrupted), 2 a refusal (nothing
changed), 3 mirror mode held the run.`;

function fail(message: string): never {
  console.error(`${message}\nRun 'npm start -- --help' for the options.`);
  process.exit(2);
}

const number = (name: string, v: string | undefined, min: number, max: number, opts?: { integer?: boolean }) => numberOption(name, v, min, max, fail, opts);

function extractOption(v: string | undefined): "auto" | "data-api" | "unload" | undefined {
  if (v === undefined || v === "auto" || v === "data-api" || v === "unload") return v;
  fail(`--extract must be auto, data-api or unload, not ${JSON.stringify(v)}`);
}

let values;
try {
  values = parseArgs({
    options: {
      config: { type: "string" },
      csv: { type: "string" },
      rows: { type: "string" },
      fresh: { type: "boolean" },
      "fail-rate": { type: "string" },
      "latency-ms": { type: "string" },
      rate: { type: "string" },
      state: { type: "string" },
      extract: { type: "string" },
      slices: { type: "string" },
      redrive: { type: "boolean" },
      json: { type: "boolean" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

// The AWS SDK warns on Node 20 about releases after January 2027; the locked versions support Node 20, and the
// Lambdas run on nodejs22.x, so the warning would only clutter the demo's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
// The handlers create their logger and metrics when first imported: quiet them before that.
if (!process.env.POWERTOOLS_LOG_LEVEL) process.env.POWERTOOLS_LOG_LEVEL = values.verbose ? "INFO" : "SILENT";
if (!process.env.POWERTOOLS_METRICS_DISABLED) process.env.POWERTOOLS_METRICS_DISABLED = values.verbose ? "false" : "true";

const { ConfigError, parseConfig } = await import("../functions/core/config.js");
const { reportOfLocalRun, runLocalPipeline } = await import("./pipeline.js");
const { formatRun } = await import("../cli/format.js");
const { ProgressLine } = await import("../cli/progress.js");
const { runExitCode } = await import("../cli/runs.js");
const { LocalStateError } = await import("./state-dir.js");

const configPath = values.config ?? "config/example.yml";
let config;
try {
  config = parseConfig(readFileSync(configPath, "utf8"), configPath);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  fail(`Cannot read the config ${configPath}: ${(err as Error).message}`);
}

let realTenant: RealTenant | undefined;
try {
  realTenant = realTenantFromEnv(process.env);
} catch (err) {
  fail((err as Error).message);
}

// The operator CLI's progress line: redrawn on a terminal, a plain line when it moved (not while nothing is known).
const progress = new ProgressLine(process.stderr, !values.json);
const onProgress = (p: { phase: string; done: number; total: number; elapsedMs: number }) => progress.update(p.phase, p.done, p.total, p.elapsedMs, p.phase === "done");

// First Ctrl-C: the run stops taking work, lets what is under way finish and reports interrupted; second: quit.
const abort = new AbortController();
let interrupts = 0;
process.on("SIGINT", () => {
  if (++interrupts > 1) process.exit(130);
  progress.end();
  console.error("Cancelling: nothing new is started, what is under way finishes (Ctrl-C again to quit at once)");
  abort.abort();
});

const summary = await runLocalPipeline({
  config,
  stateDir: values.state ?? ".local-state",
  fresh: values.fresh,
  csv: values.csv,
  seedRows: number("rows", values.rows, 1, 5_000_000, { integer: true }),
  failRate: number("fail-rate", values["fail-rate"], 0, 1),
  latencyMs: number("latency-ms", values["latency-ms"], 0, 60_000),
  // Against a real tenant its own buckets apply: the config's budget, unless --rate says otherwise.
  rate: number("rate", values.rate, 0.1, 10_000) ?? (realTenant ? undefined : 200),
  realTenant,
  extract: extractOption(values.extract),
  slices: number("slices", values.slices, 1, 256, { integer: true }),
  redrive: values.redrive ? true : undefined,
  onProgress,
  signal: abort.signal,
}).catch((err: Error) => {
  progress.end();
  // A refusal (the state directory in use, a missing CSV, a damaged state file) changed nothing: exit 2.
  const refused = err instanceof LocalStateError;
  console.error(refused ? err.message : `The local run failed: ${err.message}`);
  // --json promises one JSON object on stdout, also when the run fails.
  if (values.json) console.log(JSON.stringify({ error: err.message }));
  process.exit(refused ? 2 : 1);
});
progress.end();

// The same report and table as `auth0-sync run` (cli/format.ts), and the same exit codes (cli/runs.ts): 1 when a
// user has no outcome, 3 when mirror mode held the run.
const report = reportOfLocalRun(summary);
if (values.json) console.log(JSON.stringify({ ...report, syncMs: summary.syncMs, sqsRequests: summary.sqsRequests, consumerInstances: summary.consumerInstances }));
else console.log(formatRun(report));
process.exit(runExitCode(report));
