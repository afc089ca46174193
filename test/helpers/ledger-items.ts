/** Every item of a local state directory's ledger, for the suites that search what a run stored. */
import { join } from "node:path";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { startDynamo } from "../../local/dynamo.js";

export async function ledgerItems(stateDir: string, configName: string): Promise<unknown[]> {
  const items: unknown[] = [];
  const dynamo = await startDynamo(join(stateDir, "ledger"));
  try {
    for await (const e of new Ledger(dynamo.client, `auth0-sync-${configName}-ledger`).users.all()) items.push(e);
  } finally {
    await dynamo.stop();
  }
  return items;
}
