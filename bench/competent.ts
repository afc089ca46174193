/**
 * The fair baseline: what a competent engineer would write without this product. The naive script's
 * lookup-then-upsert (`upsertRow` in bench/baseline.ts: find by email, create or patch what differs, then the
 * user's roles: one `POST /users/{id}/roles` for a new user, its roles read and the difference fixed for an
 * existing one), run by `concurrency` workers through ONE Auth0 client whose rate limiter spends the whole budget
 * (a plain token bucket at the tenant's rate: no adaptation, no ledger). It waits out 429s and retries as the
 * product's client does, since it is that client.
 */
import type { RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import type { Auth0Adapter } from "../functions/adapters/auth0/client.js";
import { Pacer } from "../functions/adapters/auth0/pacer.js";
import { RedshiftSource } from "../functions/adapters/redshift/source.js";
import { warehouseOf, type SyncConfig } from "../functions/core/config.js";
import { ProfileMapper } from "../functions/core/profile.js";
import type { Row } from "../functions/core/types.js";
import { newResult, upsertRow, type NaiveResult } from "./baseline.js";

/** Workers by default: enough to keep a 50/s budget busy at ~40 ms a call with three calls per new user. */
export const COMPETENT_CONCURRENCY = 16;

/** A rate limiter at the full budget: the tenant's rate and burst, not learning anything from the answers. */
export function competentPacer(rate: number, burst = rate): Pacer {
  return new Pacer({ rate, burst, adaptive: false });
}

export async function competentSync(config: SyncConfig, redshift: RedshiftDataClient, auth0: Auth0Adapter, concurrency = COMPETENT_CONCURRENCY): Promise<NaiveResult> {
  const started = Date.now();
  const mapper = new ProfileMapper(config);
  const out = newResult();
  const source = new RedshiftSource(redshift, warehouseOf(config), { minMs: 10, maxMs: 200 });
  async function* rows(): AsyncGenerator<Row> {
    for await (const page of source.run()) yield* page.rows;
  }
  // An async generator queues concurrent next() calls: each worker takes the next row in turn.
  const it = rows();
  const worker = async () => {
    for (let next = await it.next(); !next.done; next = await it.next()) {
      const rowNumber = ++out.rows;
      out[await upsertRow(config, mapper, auth0, next.value, rowNumber)]++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  out.elapsedMs = Date.now() - started;
  return out;
}
