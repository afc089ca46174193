import { afterAll, beforeAll } from "vitest";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { ensureLedgerTable, startDynamo, type LocalDynamo } from "../../local/dynamo.js";

/**
 * One dynalite for the test file (started before its tests, stopped after), and a ledger table per call: each
 * test gets its own, named `<prefix>-<n>` or as asked.
 */
export function localLedgers(prefix: string): { ledger: (name?: string) => Promise<Ledger>; dynamo: () => LocalDynamo } {
  let dynamo: LocalDynamo | undefined;
  let n = 0;
  beforeAll(async () => {
    dynamo = await startDynamo();
  });
  afterAll(async () => {
    await dynamo?.stop();
  });
  const running = () => {
    if (!dynamo) throw new Error("dynalite is not started (use the ledgers inside a test)");
    return dynamo;
  };
  return {
    dynamo: running,
    ledger: async (name = `${prefix}-${++n}`) => {
      await ensureLedgerTable(running().client, name);
      return new Ledger(running().client, name);
    },
  };
}
