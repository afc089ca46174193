/**
 * The bench's warehouse rows: the demo generator's users (1-2 roles each) without the deliberately flawed rows,
 * written into a state directory's warehouse as the local pipeline expects it.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
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

/**
 * n rows of the demo table's shape generated inside PGlite (one INSERT ... SELECT over generate_series: a million rows
 * in seconds), for the scenarios at scale: distinct keys and emails, valid phones, one role; no flawed row.
 */
export async function insertGeneratedRows(db: PGlite, n: number): Promise<void> {
  await db.query(
    `INSERT INTO ${DEMO_TABLE} SELECT 'c-' || lpad(g::text, 8, '0'), 'user' || g || '@example.com', 'First' || g, 'Last' || (g % 997), '+1202555' || lpad((g % 10000)::text, 4, '0'),
       NULL, 'pro', 'gold', '{"theme":"dark","newsletter":true}'::jsonb, 'viewer', NULL, NULL, false, 'active' FROM generate_series(1, ${n}) g`,
  );
}
