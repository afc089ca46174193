/**
 * Where a Lambda (or the local runner) finds its sync definition and secrets: the config from SYNC_CONFIG
 * (the JSON text) or SYNC_CONFIG_FILE (a path), validated once per process; Auth0 credentials from Secrets
 * Manager (cached by Powertools parameters) or, locally, from AUTH0_CLIENT_ID / AUTH0_CLIENT_SECRET.
 */
import { readFileSync } from "node:fs";
import { getSecret } from "@aws-lambda-powertools/parameters/secrets";
import { parseConfig, type SyncConfig } from "../../core/config.js";
import type { Auth0Credentials } from "../auth0/client.js";

let cached: { source: string; config: SyncConfig } | undefined;

/** The config the CDK app validated at synth and embedded in the bundle (esbuild `define`); absent elsewhere. */
declare const __SYNC_CONFIG__: string | undefined;
const embedded = typeof __SYNC_CONFIG__ === "string" ? __SYNC_CONFIG__ : undefined;

export function loadConfig(env: Record<string, string | undefined> = process.env): SyncConfig {
  const source = env.SYNC_CONFIG ? "SYNC_CONFIG" : env.SYNC_CONFIG_FILE ? env.SYNC_CONFIG_FILE : embedded ? "embedded config" : undefined;
  if (!source) throw new Error("No sync config: set SYNC_CONFIG (JSON text) or SYNC_CONFIG_FILE (a path)");
  if (cached?.source === source) return cached.config;
  const text = env.SYNC_CONFIG ?? (env.SYNC_CONFIG_FILE ? readFileSync(env.SYNC_CONFIG_FILE, "utf8") : (embedded ?? ""));
  const config = parseConfig(text, source);
  cached = { source, config };
  return config;
}

export class MissingCredentialsError extends Error {
  readonly retryable = true;
}

/** The M2M application's credentials; never logged. */
export async function loadAuth0Credentials(config: SyncConfig, env: Record<string, string | undefined> = process.env): Promise<Auth0Credentials> {
  if (env.AUTH0_CLIENT_ID && env.AUTH0_CLIENT_SECRET) return { clientId: env.AUTH0_CLIENT_ID, clientSecret: env.AUTH0_CLIENT_SECRET };
  // The stack passes the ARN of the secret it created when the config names none.
  const arn = env.AUTH0_CREDENTIALS_SECRET_ARN || config.auth0.credentialsSecretArn;
  if (!arn) {
    throw new MissingCredentialsError("No Auth0 credentials: set auth0.credentialsSecretArn in the config, or AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET");
  }
  const secret = (await getSecret(arn, { transform: "json", maxAge: 300 })) as Record<string, unknown> | undefined;
  const clientId = secret?.client_id;
  const clientSecret = secret?.client_secret;
  if (typeof clientId !== "string" || typeof clientSecret !== "string" || !clientId || !clientSecret) {
    throw new MissingCredentialsError(`The secret ${arn} must hold JSON {"client_id": "...", "client_secret": "..."}`);
  }
  return { clientId, clientSecret };
}
