/**
 * A local tenant copy with every log line on (DEBUG), for the tenant-copy privacy test: a first copy with 5xx
 * faults (retries, and lost answers), then a refresh of a few changed users against a tenant that fails every
 * call, so their message ends in the DLQ. Its stdout and stderr are captured by the test; what was stored (ledger
 * items, DLQ bodies, the target tenant) goes to a file.
 *
 *   node --import tsx test/helpers/logged-copy.ts STATE_DIR OUT_FILE
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

process.env.POWERTOOLS_LOG_LEVEL = "DEBUG";
process.env.POWERTOOLS_METRICS_DISABLED = "false";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const [stateDir, outFile] = process.argv.slice(2) as [string, string];
const { parseConfig } = await import("../../functions/core/config.js");
const { runLocalPipeline } = await import("../../local/pipeline.js");
type TenantState = import("../../local/auth0-emulator.js").TenantState;

const config = parseConfig(readFileSync(new URL("../../config/tenant-copy.yml", import.meta.url), "utf8"));
const first = await runLocalPipeline({ config, stateDir, fresh: true, seedRows: 200, rate: 400, failRate: 0.2 });

// Production changes five users (a kept value: a pseudonymised one may map to the same pseudonym); the refresh
// meets a tenant that answers 503 to everything: their message goes to the DLQ.
const sourceFile = join(stateDir, "source-tenant.json");
const source = JSON.parse(readFileSync(sourceFile, "utf8")) as TenantState;
for (const u of source.users.slice(0, 5)) u.user_metadata = { ...u.user_metadata, plan: "changed-plan" };
writeFileSync(sourceFile, JSON.stringify(source));
const second = await runLocalPipeline({
  config: { ...config, queue: { ...config.queue, maxReceiveCount: 5 } },
  stateDir,
  rate: 400,
  failRate: 1,
  retryDelaySeconds: 0,
});

const ledgerItems = await (await import("./ledger-items.js")).ledgerItems(stateDir, config.name);
writeFileSync(
  outFile,
  JSON.stringify({
    first,
    second,
    ledgerItems,
    dlq: readFileSync(join(stateDir, "dlq.json"), "utf8"),
    target: readFileSync(join(stateDir, "tenant.json"), "utf8"),
  }),
);
