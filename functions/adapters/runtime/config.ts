/**
 * Where a Lambda (or the local runner) finds its sync definition and secrets: the config from SYNC_CONFIG
 * (the JSON text) or SYNC_CONFIG_FILE (a path), validated once per process; Auth0 credentials from Secrets
 * Manager (cached by Powertools parameters) or, locally, from AUTH0_CLIENT_ID / AUTH0_CLIENT_SECRET.
 */
import { readFileSync } from "node:fs";
import { getSecret } from "@aws-lambda-powertools/parameters/secrets";
import { parseConfig, type SyncConfig } from "../../core/config.js";
import { SyncError } from "../../core/errors.js";
import type { Auth0Credentials } from "../auth0/client.js";
import type { SourceTenantAccess } from "../auth0/tenant-source.js";

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

export class MissingCredentialsError extends SyncError {
  override readonly name = "MissingCredentialsError";
  readonly retryable = true;
}

/**
 * Credentials held in Secrets Manager as {"client_id","client_secret"} (Powertools caches a read 5 minutes; the
 * Lambdas keep what they built from it for the life of a warm instance: a rotated secret is read by new instances).
 */
async function credentialsFromSecret(arn: string): Promise<Auth0Credentials> {
  const secret = (await getSecret(arn, { transform: "json", maxAge: 300 })) as Record<string, unknown> | undefined;
  const clientId = secret?.client_id;
  const clientSecret = secret?.client_secret;
  if (typeof clientId !== "string" || typeof clientSecret !== "string" || !clientId || !clientSecret) {
    throw new MissingCredentialsError(`The secret ${arn} must hold JSON {"client_id": "...", "client_secret": "..."}`);
  }
  return { clientId, clientSecret };
}

/**
 * A tenant copy's source tenant: its M2M credentials (SOURCE_AUTH0_CLIENT_ID / SOURCE_AUTH0_CLIENT_SECRET, or the
 * secret the config or the stack names), its base URL (SOURCE_AUTH0_BASE_URL wins over the config) and the
 * pseudonymisation key (PSEUDONYM_KEY, or the secret transform.keySecretArn or the stack names). Never logged.
 */
export async function loadSourceTenantAccess(config: SyncConfig, env: Record<string, string | undefined> = process.env): Promise<SourceTenantAccess> {
  const src = config.source;
  if (src.type !== "auth0") throw new Error("the source is not an Auth0 tenant");
  let credentials: Auth0Credentials;
  if (env.SOURCE_AUTH0_CLIENT_ID && env.SOURCE_AUTH0_CLIENT_SECRET) credentials = { clientId: env.SOURCE_AUTH0_CLIENT_ID, clientSecret: env.SOURCE_AUTH0_CLIENT_SECRET };
  else {
    const arn = env.SOURCE_CREDENTIALS_SECRET_ARN || src.credentialsSecretArn;
    if (!arn) throw new MissingCredentialsError("No source tenant credentials: set source.credentialsSecretArn in the config, or SOURCE_AUTH0_CLIENT_ID and SOURCE_AUTH0_CLIENT_SECRET");
    credentials = await credentialsFromSecret(arn);
  }
  let key = env.PSEUDONYM_KEY;
  if (!key) {
    const arn = env.PSEUDONYM_KEY_SECRET_ARN || config.transform?.keySecretArn;
    if (!arn) throw new MissingCredentialsError("No pseudonymisation key: set transform.keySecretArn in the config, or PSEUDONYM_KEY");
    const value = await getSecret(arn, { maxAge: 300 });
    if (typeof value !== "string" || value === "") throw new MissingCredentialsError(`The secret ${arn} must hold the pseudonymisation key as text`);
    key = value;
  }
  return { credentials, baseUrl: env.SOURCE_AUTH0_BASE_URL || src.baseUrl, key };
}

/** The M2M application's credentials; never logged. */
export async function loadAuth0Credentials(config: SyncConfig, env: Record<string, string | undefined> = process.env): Promise<Auth0Credentials> {
  if (env.AUTH0_CLIENT_ID && env.AUTH0_CLIENT_SECRET) return { clientId: env.AUTH0_CLIENT_ID, clientSecret: env.AUTH0_CLIENT_SECRET };
  // The stack passes the ARN of the secret it created when the config names none.
  const arn = env.AUTH0_CREDENTIALS_SECRET_ARN || config.auth0.credentialsSecretArn;
  if (!arn) {
    throw new MissingCredentialsError("No Auth0 credentials: set auth0.credentialsSecretArn in the config, or AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET");
  }
  return credentialsFromSecret(arn);
}
