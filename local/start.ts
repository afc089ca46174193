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
                       a real Enterprise tenant allows 16)
  --state DIR          where state persists (default .local-state)
  --json               print the summary as one JSON object
  --verbose            show the Lambdas' structured logs
  -h, --help           this text

With --config config/tenant-copy.yml the source is a second emulated tenant (production, seeded with
--rows demo users, kept in <state>/source-tenant.json) copied pseudonymised into the target
(docs/tenant-copy.md); edit that file between runs to see a refresh.

With AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET set, users go to that tenant instead of the
emulator (AUTH0_BASE_URL points at any Auth0-compatible URL). Exit code 1 when any row is unaccounted.`;

function fail(message: string): never {
  console.error(`${message}\nRun 'npm start -- --help' for the options.`);
  process.exit(2);
}

const number = (name: string, v: string | undefined, min: number, max: number, opts?: { integer?: boolean }) => numberOption(name, v, min, max, fail, opts);

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
const { runLocalPipeline } = await import("./pipeline.js");
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

const tty = Boolean(process.stderr.isTTY) && !values.json;
let lastPlain = 0;
const onProgress = (p: { phase: string; rowsRead: number; done: number; total: number; elapsedMs: number }) => {
  const rate = p.elapsedMs > 0 ? (p.done / p.elapsedMs) * 1000 : 0;
  const left = p.total - p.done;
  const eta = rate > 0 && left > 0 ? `${Math.ceil(left / rate)} s` : "-";
  const line = `${p.phase.padEnd(7)} rows ${p.done}/${p.total} done, ${rate.toFixed(0)} rows/s, ETA ${eta}`;
  if (tty) process.stderr.write(`\r\x1b[2K${line}`);
  else if (p.phase === "done" || Date.now() - lastPlain > 2000) {
    lastPlain = Date.now();
    if (!values.json) console.error(line);
  }
};

const summary = await runLocalPipeline({
  config,
  stateDir: values.state ?? ".local-state",
  fresh: values.fresh,
  csv: values.csv,
  seedRows: number("rows", values.rows, 1, 5_000_000, { integer: true }),
  failRate: number("fail-rate", values["fail-rate"], 0, 1),
  latencyMs: number("latency-ms", values["latency-ms"], 0, 60_000),
  rate: realTenant ? undefined : (number("rate", values.rate, 0.1, 10_000) ?? 200),
  realTenant,
  onProgress,
}).catch((err: Error) => {
  if (tty) process.stderr.write("\n");
  // A refusal (the state directory in use, a missing CSV, a damaged state file) changed nothing: exit 2.
  const refused = err instanceof LocalStateError;
  console.error(refused ? err.message : `The local run failed: ${err.message}`);
  // --json promises one JSON object on stdout, also when the run fails.
  if (values.json) console.log(JSON.stringify({ error: err.message }));
  process.exit(refused ? 2 : 1);
});
if (tty) process.stderr.write("\n");

if (values.json) {
  const { topReasons, rejections, ...rest } = summary;
  console.log(JSON.stringify({ ...rest, topReasons, rejections }));
} else {
  const rows: [string, string | number][] = [
    ["run", summary.runId],
    ["rows read", summary.rowsRead],
    ["created", summary.created],
    ["updated", summary.updated],
    ["unchanged", summary.unchanged],
    ["rejected", summary.rejected],
    ["dead-lettered", summary.deadLettered],
    ["blocked", summary.blocked],
    ["deleted", summary.deleted],
    ["held", summary.held ? "yes: nothing blocked or deleted" : "no"],
    ["unaccounted", summary.unaccounted],
    ["Auth0 calls", summary.auth0Calls],
    ["Auth0 429s", summary.auth0Status429],
    ["elapsed", `${(summary.elapsedMs / 1000).toFixed(1)} s`],
  ];
  console.log(rows.map(([k, v]) => `${k.padEnd(14)} ${v}`).join("\n"));
  if (summary.heldReason) console.log(`\nheld: ${summary.heldReason}`);
  if (summary.topReasons.length > 0) {
    console.log("\ntop reasons for rejection:");
    for (const r of summary.topReasons) console.log(`  ${String(r.count).padStart(6)}  ${r.code}`);
    console.log("\nfirst rejections:");
    for (const r of summary.rejections.slice(0, 5)) console.log(`  ${r}`);
  }
}
process.exit(summary.unaccounted === 0 ? 0 : 1);
