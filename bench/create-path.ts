/**
 * How a bench scenario's new users are created. Since issue 27, `create.bulk` defaults to `auto`: a run that finds
 * at least `create.bulkMinUsers` (1,000) new users sends them through Auth0 import jobs. The scenarios that measure
 * the per-user create path (POST /users, grouped roles, the pacers against the buckets) pin it with `off`, so that a
 * larger `--rows` or a config default changed later never makes them silently measure imports instead;
 * bench/import-scenarios.ts sets each path explicitly to compare the two.
 */
import { parseConfig, type SyncConfig } from "../functions/core/config.js";

export type BulkMode = SyncConfig["create"]["bulk"];

/** The config with `create.bulk` set to `bulk` (the rest of `create` as it was). */
export function withBulk(config: SyncConfig, bulk: BulkMode): SyncConfig {
  return parseConfig(JSON.stringify({ ...config, create: { ...config.create, bulk } }));
}

/** The config creating one user at a time (`create.bulk: off`): the path the per-user scenarios measure. */
export const perUserCreates = (config: SyncConfig): SyncConfig => withBulk(config, "off");
