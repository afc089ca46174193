/**
 * `npm run warehouse -- "SQL"`: runs SQL on the local pipeline's embedded warehouse (PGlite in <state>/warehouse),
 * to change the demo's table between runs (docs/local-development.md) or look at it. See `--help`.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { LocalStateError, lockStateDir } from "./state-dir.js";

const HELP = `Usage: npm run warehouse -- [--state DIR] "SQL"

Runs SQL (one or more statements) on the embedded warehouse of the local pipeline, the table config/example.yml
reads (app_users). SELECT prints its rows; other statements print how many rows they changed. For example:

  npm run warehouse -- "UPDATE app_users SET last_name = 'Okafor-Smith' WHERE customer_id = 'c-000012'"
  npm run warehouse -- "SELECT customer_id, email, roles FROM app_users ORDER BY customer_id LIMIT 5"

Then 'npx auth0-sync plan --local' shows what the next run would change, and 'npm start' runs it.

Options:
  --state DIR   the state directory (default .local-state, as npm start)
  --rows N      at most N rows printed per result (default 50)
  -h, --help    this text`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { state: { type: "string" }, rows: { type: "string" }, help: { type: "boolean", short: "h" } } });
} catch (err) {
  fail(`${(err as Error).message}\nRun 'npm run warehouse -- --help' for the options.`);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const sql = positionals.join(" ").trim();
if (sql === "") fail(`Give the SQL to run, for example: npm run warehouse -- "SELECT count(*) FROM app_users"`);
const maxRows = Number(values.rows ?? 50);
if (!Number.isInteger(maxRows) || maxRows < 0) fail(`--rows: expected a whole number, got '${values.rows}'`);
const stateDir = values.state ?? ".local-state";
const dir = join(stateDir, "warehouse");
if (!existsSync(dir)) {
  fail(`No local warehouse in ${stateDir}: run 'npm start' first (a tenant copy has none: its source is ${join(stateDir, "source-tenant.json")}).`);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return v.toString();
  return JSON.stringify(v);
}

function table(fields: { name: string }[], rows: Record<string, unknown>[]): string {
  const shown = rows.slice(0, maxRows).map((r) => fields.map((f) => cell(r[f.name])));
  const widths = fields.map((f, i) => Math.min(40, Math.max(f.name.length, ...shown.map((r) => r[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 3)}...` : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const out = [line(fields.map((f) => f.name)), ...shown.map(line)];
  out.push(`(${rows.length.toLocaleString("en-US")} ${rows.length === 1 ? "row" : "rows"}${rows.length > maxRows ? `, the first ${maxRows} shown` : ""})`);
  return out.join("\n");
}

let release: (() => void) | undefined;
try {
  // The pipeline's own lock: never while a run (or auth0-sync --local) has the state directory open.
  release = lockStateDir(stateDir);
} catch (err) {
  fail(err instanceof LocalStateError ? err.message : String(err));
}
const db = new PGlite(dir);
let code = 0;
try {
  for (const r of await db.exec(sql)) {
    if (r.fields.length > 0) console.log(table(r.fields, r.rows));
    else console.log(`${(r.affectedRows ?? 0).toLocaleString("en-US")} ${r.affectedRows === 1 ? "row" : "rows"} changed`);
  }
} catch (err) {
  console.error(`The warehouse refused the SQL: ${(err as Error).message}`);
  code = 1;
} finally {
  await db.close();
  release?.();
}
process.exit(code);
