/**
 * A real (or Auth0-compatible) tenant instead of the emulator, from the environment: AUTH0_DOMAIN, AUTH0_CLIENT_ID
 * and AUTH0_CLIENT_SECRET together (AUTH0_BASE_URL optionally points at another URL). Read the same way by
 * `npm start` and by the CLI's `--local`.
 */
import type { Auth0Credentials } from "../functions/adapters/auth0/client.js";

export interface RealTenant {
  domain: string;
  baseUrl?: string;
  credentials: Auth0Credentials;
}

/** Thrown when only some of the three variables are set: a half-configured tenant is never guessed. */
export class RealTenantError extends Error {
  override readonly name = "RealTenantError";
}

export function realTenantFromEnv(env: Record<string, string | undefined>): RealTenant | undefined {
  const { AUTH0_DOMAIN: domain, AUTH0_CLIENT_ID: clientId, AUTH0_CLIENT_SECRET: clientSecret, AUTH0_BASE_URL: baseUrl } = env;
  if (domain && clientId && clientSecret) return { domain, baseUrl, credentials: { clientId, clientSecret } };
  if (domain || clientId || clientSecret) throw new RealTenantError("To use a real tenant set all three of AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET");
  return undefined;
}
