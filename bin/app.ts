/**
 * The CDK app: `npx cdk synth -c config=path/to/sync.yml` (default config/example.yml).
 * A bad config stops synth with every problem listed by field path.
 */
import { readFileSync } from "node:fs";
import { App } from "aws-cdk-lib";
import { ConfigError, parseConfig } from "../functions/core/config.js";
import { Auth0SyncStack } from "../lib/auth0-sync-stack.js";

const app = new App();
const configPath = (app.node.tryGetContext("config") as string | undefined) ?? process.env.SYNC_CONFIG ?? "config/example.yml";
let text: string;
try {
  text = readFileSync(configPath, "utf8");
} catch (err) {
  console.error(`Cannot read the sync config ${configPath}: ${(err as Error).message}`);
  process.exit(1);
}
try {
  const config = parseConfig(text, configPath);
  new Auth0SyncStack(app, `auth0-sync-${config.name}`, { config });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
