/**
 * Rows for the demo table (config/example.yml) as CSV, and that config with sections overridden: shared by the
 * end-to-end suites that load a CSV into the local pipeline.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseConfig, type SyncConfig } from "../../functions/core/config.js";

const HEADER = "customer_id,email,first_name,last_name,phone,avatar_url,plan,tier,preferences,roles,orgs,org_roles,is_blocked,status";
const example = readFileSync(new URL("../../config/example.yml", import.meta.url), "utf8");

export interface Row {
  id: string;
  email: string;
  first: string;
  roles: string;
}

/** n rows c-0001..; `roles` gives each row's roles (a comma list). */
export const demoRows = (n: number, roles: (i: number) => string = () => "viewer"): Row[] =>
  Array.from({ length: n }, (_, i) => ({ id: `c-${String(i + 1).padStart(4, "0")}`, email: `user${i + 1}@example.com`, first: `First${i + 1}`, roles: roles(i) }));

/** Writes the rows as the demo table's CSV and returns the path. */
export function writeCsv(path: string, rs: Row[]): string {
  writeFileSync(path, [HEADER, ...rs.map((r) => `${r.id},${r.email},${r.first},Last,,,pro,gold,,"${r.roles}",,,false,active`)].join("\n"));
  return path;
}

/** The example config with the given sections' fields overridden (the rest of each section kept). */
export function exampleConfigWith(over: Record<string, Record<string, unknown>> = {}): SyncConfig {
  const base = JSON.parse(JSON.stringify(parseConfig(example))) as Record<string, Record<string, unknown>>;
  const merged = { ...base };
  for (const [k, v] of Object.entries(over)) merged[k] = { ...base[k], ...v };
  return parseConfig(JSON.stringify(merged));
}
