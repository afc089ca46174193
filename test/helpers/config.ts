import { expect } from "vitest";
import { ConfigError, validateConfig, type SyncConfig, type SyncConfigInput } from "../../functions/core/config.js";

/** A valid config with overrides, for tests. */
export function testConfig(overrides: Partial<SyncConfigInput> = {}): SyncConfig {
  return validateConfig({
    name: "test-sync",
    source: { workgroupName: "wg", database: "dev", sql: "SELECT * FROM app_users" },
    identity: { keyColumn: "id", emailColumn: "email" },
    auth0: { domain: "tenant.emulator.local", connection: "Username-Password-Authentication" },
    ...overrides,
  });
}

/** The problems a config is refused with (each "path: message"); fails the test when it is accepted. */
export function configProblems(raw: unknown): string[] {
  try {
    validateConfig(raw, "t.yml");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected the config to be rejected");
}

/** The smallest tenant copy's config text: production copied into staging with the default transform. */
export const MINIMAL_COPY = `
name: staging-copy
source:
  type: auth0
  domain: prod.example.com
  connections: [Username-Password-Authentication]
auth0:
  domain: staging.example.com
  connection: Username-Password-Authentication
`;
