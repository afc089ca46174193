/**
 * `npm run bench` entry: quiets the handlers' logs and metrics (they are created when first imported), then runs
 * bench/bench.ts. See there for the options.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= "SILENT";
process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
await import("./bench.js");
