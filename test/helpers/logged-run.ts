/**
 * A local run with every log line on (DEBUG), for the security suite: its stdout and stderr are captured by the
 * test; the secrets to look for (issued tokens, passwords received by the emulator, the client secret) and what
 * was stored (ledger items, DLQ bodies) go to a file, never to the captured output.
 *
 *   node --import tsx test/helpers/logged-run.ts STATE_DIR SECRETS_FILE
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

process.env.POWERTOOLS_LOG_LEVEL = "DEBUG";
process.env.POWERTOOLS_METRICS_DISABLED = "false";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const [stateDir, secretsFile] = process.argv.slice(2) as [string, string];
const { parseConfig } = await import("../../functions/core/config.js");
const { runLocalPipeline } = await import("../../local/pipeline.js");
const { DEFAULT_CLIENT_SECRET } = await import("../../local/auth0-emulator.js");
type Env = import("../../local/pipeline.js").LocalEnvironment;

const config = parseConfig(readFileSync(new URL("../../config/example.yml", import.meta.url), "utf8"));
let env: Env | undefined;
const passwords: string[] = [];
const summary = await runLocalPipeline({
  // One retry inside the client (not the default two): about 4% of calls still fail after it (0.2 x 0.2), so the
  // capture surely holds "user will be retried" lines (with two, a run could see none: the suite failed by chance).
  config: { ...config, auth0: { ...config.auth0, maxRetries: 1 }, queue: { ...config.queue, maxReceiveCount: 5 } },
  stateDir,
  fresh: true,
  seedRows: 300,
  rate: 400,
  failRate: 0.2,
  onEnvironment: (e) => {
    env = e;
    e.emulator!.capturedPasswords = passwords;
    // A token expiring mid-run makes the client fetch (and could make it log) a new one.
    setTimeout(() => e.emulator!.expireAllTokens(), 1000);
  },
});
const ledgerItems = await (await import("./ledger-items.js")).ledgerItems(stateDir, config.name);
writeFileSync(
  secretsFile,
  JSON.stringify({
    summary,
    tokens: env?.emulator?.issuedTokens() ?? [],
    passwords,
    clientSecret: DEFAULT_CLIENT_SECRET,
    ledgerItems,
    dlq: readFileSync(join(stateDir, "dlq.json"), "utf8"),
  }),
);
