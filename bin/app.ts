/**
 * The CDK app: `npx cdk synth -c config=path/to/sync.yml` (default config/example.yml, or SYNC_CONFIG_FILE).
 * A bad config stops synth with every problem listed by field path. cdk-nag's AwsSolutions checks run on every
 * synth; a finding that is not acknowledged with a reason fails it.
 */
import { readFileSync } from "node:fs";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ConfigError, parseConfig } from "../functions/core/config.js";
import { Auth0SyncStack } from "../lib/auth0-sync-stack.js";

const app = new App();
const configPath = (app.node.tryGetContext("config") as string | undefined) ?? process.env.SYNC_CONFIG_FILE ?? "config/example.yml";
let text: string;
try {
  text = readFileSync(configPath, "utf8");
} catch (err) {
  console.error(`Cannot read the sync config ${configPath}: ${(err as Error).message}`);
  process.exit(1);
}
try {
  const config = parseConfig(text, configPath);
  new Auth0SyncStack(app, `auth0-sync-${config.name}`, {
    config,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
