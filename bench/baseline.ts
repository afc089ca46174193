/**
 * The naive approach the bench compares against, as the existing Auth0 destinations describe it: for every row,
 * look up the user by email, then create it or patch it, then its roles, one row after another. It is given the
 * benefit of the doubt: the same mapping and the same paced, retrying Auth0 client as the product, a patch only
 * when the looked-up user differs (so an unchanged row without roles costs one lookup, not two calls), and a new
 * user's roles in one `POST /users/{id}/roles`. The per-row work (`upsertRow`) is also the competent baseline's
 * (bench/competent.ts), which runs it concurrently.
 */
import type { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import type { Auth0Adapter } from "../functions/adapters/auth0/client.js";
import { RedshiftSource } from "../functions/adapters/redshift/source.js";
import { warehouseOf, type SyncConfig } from "../functions/core/config.js";
import { createBody, diff } from "../functions/core/write-plan.js";
import { diffRoles } from "../functions/core/membership-diff.js";
import { ProfileMapper } from "../functions/core/profile.js";
import type { Row } from "../functions/core/types.js";

export interface NaiveResult {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  elapsedMs: number;
}

export type RowOutcome = "created" | "updated" | "unchanged" | "rejected";

/**
 * One row, lookup-then-upsert: find the user by email; create it, or patch what differs; then its roles: a new
 * user's in one call, an existing user's read and the difference fixed (removals only when the config says so).
 */
export async function upsertRow(config: SyncConfig, mapper: ProfileMapper, auth0: Auth0Adapter, row: Row, rowNumber: number): Promise<RowOutcome> {
  const m = mapper.map(row, rowNumber);
  if (!m.ok) return "rejected";
  const desired = m.profile;
  const current = await auth0.findByEmail(desired.email);
  if (!current) {
    const created = await auth0.create(createBody(desired));
    if (config.roles && desired.roles && desired.roles.length > 0) await auth0.assignRoles(created.user_id, desired.roles);
    return "created";
  }
  let outcome: RowOutcome = "unchanged";
  const patch = diff(desired, current);
  if (Object.keys(patch).length > 0) {
    await auth0.patch(current.user_id, patch);
    outcome = "updated";
  }
  if (config.roles && desired.roles) {
    const change = diffRoles(desired.roles, await auth0.userRoles(current.user_id), config.roles.removeUnlisted);
    if (change.remove.length > 0) await auth0.removeRoles(current.user_id, change.remove);
    if (change.add.length > 0) await auth0.assignRoles(current.user_id, change.add);
    if (change.add.length > 0 || change.remove.length > 0) outcome = "updated";
  }
  return outcome;
}

export function newResult(): NaiveResult {
  return { rows: 0, created: 0, updated: 0, unchanged: 0, rejected: 0, elapsedMs: 0 };
}

export async function naiveSync(config: SyncConfig, redshift: RedshiftDataClient, auth0: Auth0Adapter): Promise<NaiveResult> {
  const started = Date.now();
  const mapper = new ProfileMapper(config);
  const out = newResult();
  const source = new RedshiftSource(redshift, warehouseOf(config), { minMs: 10, maxMs: 200 });
  for await (const page of source.run()) {
    for (const row of page.rows) {
      out.rows++;
      out[await upsertRow(config, mapper, auth0, row, out.rows)]++;
    }
  }
  out.elapsedMs = Date.now() - started;
  return out;
}
