import { validateConfig, type SyncConfig, type SyncConfigInput } from "../../functions/core/config.js";

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
