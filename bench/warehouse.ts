/**
 * The bench's warehouse rows: the demo generator's users (1-2 roles each) without the deliberately flawed rows,
 * written into a state directory's warehouse as the local pipeline expects it.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { openWarehouseDb } from "../local/warehouse-db.js";
import { createDemoTable, DEMO_TABLE, generateUsers, insertRows, type DemoRow } from "../local/demo-data.js";
import { markWarehouseReady } from "../local/state-dir.js";

/** n valid rows: the generator's rows without the deliberately flawed ones. */
export function cleanRows(n: number): DemoRow[] {
  const g = generateUsers(Math.ceil(n * 1.2) + 50, 7);
  return g.rows.filter((_, i) => g.flaws[i] === null).slice(0, n);
}

export async function writeWarehouse(stateDir: string, rows: DemoRow[]): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  const db = await openWarehouseDb(join(stateDir, "warehouse"));
  await createDemoTable(db);
  await insertRows(db, DEMO_TABLE, rows as unknown as Record<string, unknown>[]);
  await db.close();
  // Seeded to the end: the local runner refuses a warehouse without this marker (an interrupted seeding).
  markWarehouseReady(stateDir, `${rows.length} bench rows`);
}
