/**
 * A local run to be killed mid-consume, for the kill-durability suite: it loads the CSV into a fresh state
 * directory, syncs at a low emulated rate (so consuming takes seconds) and prints its progress on stdout, one JSON
 * object a line, for the test to pick its moment.
 *
 *   node --import tsx test/helpers/killable-run.ts STATE_DIR CSV_FILE RATE
 */
process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
process.env.POWERTOOLS_METRICS_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const [stateDir, csv, rate] = process.argv.slice(2) as [string, string, string];
const { runLocalPipeline } = await import("../../local/pipeline.js");
const { exampleConfigWith } = await import("./demo-csv.js");

const summary = await runLocalPipeline({
  config: exampleConfigWith(),
  stateDir,
  csv,
  fresh: true,
  rate: Number(rate),
  onProgress: (p) => console.log(JSON.stringify(p)),
});
console.log(JSON.stringify({ summary }));
