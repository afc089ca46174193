/**
 * The operator CLI's entry point (see cli/program.ts; `npx auth0-sync --help`).
 */
// The Lambdas run on nodejs22.x or newer; the SDK's notice about Node 20 would only clutter an operator's screen.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
// With --local the real handlers run in this process: their logs stay quiet unless asked for.
process.env.POWERTOOLS_LOG_LEVEL ??= "SILENT";
process.env.POWERTOOLS_METRICS_DISABLED ??= "true";

const { runCli } = await import("../cli/program.js");

const abort = new AbortController();
let interrupted = 0;
process.on("SIGINT", () => {
  // First Ctrl-C: cancel cleanly (a redrive cancels its move task; a local run takes no new work and lets what is
  // under way finish; following a deployed run stops, the run goes on); second: leave at once.
  if (++interrupted > 1) process.exit(130);
  process.stderr.write("\nCancelling: nothing new is started, what is under way finishes (Ctrl-C again to quit at once)\n");
  abort.abort();
});

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: abort.signal });
process.exit(code);
