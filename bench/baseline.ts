/**
 * The naive approach the bench compares against, as the existing Auth0 destinations describe it: for every row,
 * look up the user by email, then create it or patch it, one row after another. It is given the benefit of the
 * doubt: the same mapping and the same paced, retrying Auth0 client as the product, and a patch only when the
 * looked-up user differs (so an unchanged row costs one lookup, not two calls).
 */
import type { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import type { Auth0Adapter } from "../functions/adapters/auth0/client.js";
import { RedshiftSource } from "../functions/adapters/redshift/source.js";
import type { SyncConfig } from "../functions/core/config.js";
import { createBody, diff } from "../functions/core/plan.js";
import { ProfileMapper } from "../functions/core/profile.js";

export interface NaiveResult {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  elapsedMs: number;
}

export async function naiveSync(config: SyncConfig, redshift: RedshiftDataClient, auth0: Auth0Adapter): Promise<NaiveResult> {
  const started = Date.now();
  const mapper = new ProfileMapper(config);
  const out: NaiveResult = { rows: 0, created: 0, updated: 0, unchanged: 0, rejected: 0, elapsedMs: 0 };
  const source = new RedshiftSource(redshift, config.source, { minMs: 10, maxMs: 200 });
  for await (const page of source.run()) {
    for (const row of page.rows) {
      out.rows++;
      const m = mapper.map(row, out.rows);
      if (!m.ok) {
        out.rejected++;
        continue;
      }
      const current = await auth0.findByEmail(m.profile.email);
      if (!current) {
        await auth0.create(createBody(m.profile));
        out.created++;
        continue;
      }
      const patch = diff(m.profile, current);
      if (Object.keys(patch).length === 0) {
        out.unchanged++;
        continue;
      }
      await auth0.patch(current.user_id, patch);
      out.updated++;
    }
  }
  out.elapsedMs = Date.now() - started;
  return out;
}
