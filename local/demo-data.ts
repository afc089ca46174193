/**
 * Demo data for the local warehouse: generated users matching config/example.yml, a few invalid on purpose,
 * and loading a CSV file into the table the config's SQL reads.
 */
import type { PGlite, Transaction } from "@electric-sql/pglite";

/** What the loaders need of the database: PGlite itself, or one of its transactions. */
type Db = Pick<PGlite | Transaction, "query" | "exec">;
import { parse } from "csv-parse/sync";
import { seededRandom } from "./random.js";

export const DEMO_ROLES = ["admin", "editor", "viewer", "billing"];
/** Organizations of the demo tenant (config/example.yml names them by name). */
export const DEMO_ORGS = ["acme", "globex", "initech", "umbrella"];
export const DEMO_TABLE = "app_users";

const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia", "Linus", "Shafi", "Tim", "Niklaus"];
const LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie", "Perlman", "Torvalds", "Goldwasser", "Berners-Lee", "Wirth"];
const PLANS = ["free", "pro", "team", "enterprise"];


export interface DemoRow {
  customer_id: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  avatar_url: string | null;
  plan: string | null;
  tier: string | null;
  preferences: string | null;
  roles: string | null;
  /** Organizations by name, a comma list; their member roles as a JSON object {"org": ["role"]}. */
  orgs: string | null;
  org_roles: string | null;
  is_blocked: boolean;
  status: string;
}

/** What kind of bad a generated row is, if any: the demo shows each rejection reason. */
export type DemoFlaw = "bad_email" | "bad_phone" | "duplicate_email" | "unknown_role" | "dotted_key" | "test_row" | "unknown_org" | null;

export function generateUsers(n: number, seed = 42): { rows: DemoRow[]; flaws: DemoFlaw[] } {
  const r = seededRandom(seed);
  // Organizations come from a random stream of their own: the rows and flaws above them stay as they always were.
  const o = seededRandom(seed ^ 0x0a9c);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)] as T;
  const rows: DemoRow[] = [];
  const flaws: DemoFlaw[] = [];
  for (let i = 1; i <= n; i++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const id = `c-${String(i).padStart(6, "0")}`;
    const row: DemoRow = {
      customer_id: id,
      email: `${first}.${last}.${i}@example.com`.toLowerCase().replace(/[^a-z0-9.@-]/g, ""),
      first_name: first,
      last_name: r() < 0.05 ? null : last,
      phone: r() < 0.3 ? null : `+1${String(2000000000 + Math.floor(r() * 7999999999))}`,
      avatar_url: r() < 0.5 ? `https://avatars.example.com/${id}.png` : null,
      plan: pick(PLANS),
      tier: pick(["bronze", "silver", "gold"]),
      preferences: JSON.stringify({ theme: pick(["light", "dark"]), newsletter: r() < 0.5 }),
      roles: [pick(DEMO_ROLES), ...(r() < 0.3 ? [pick(DEMO_ROLES)] : [])].join(","),
      orgs: null,
      org_roles: null,
      is_blocked: r() < 0.02,
      status: "active",
    };
    let flaw: DemoFlaw = null;
    const roll = r();
    if (roll < 0.01) {
      row.email = `not-an-email-${i}`;
      flaw = "bad_email";
    } else if (roll < 0.02) {
      row.phone = "555-0100";
      flaw = "bad_phone";
    } else if (roll < 0.025 && rows.length > 0) {
      row.email = (rows[Math.floor(r() * rows.length)] as DemoRow).email;
      flaw = "duplicate_email";
    } else if (roll < 0.03) {
      row.roles = "admin,superuser";
      flaw = "unknown_role";
    } else if (roll < 0.035) {
      row.preferences = JSON.stringify({ "ui.theme": "dark" });
      flaw = "dotted_key";
    } else if (roll < 0.04) {
      row.status = "test";
      flaw = "test_row";
    }
    // Most users in one organization, some in two, some in none; a member role in some of them.
    const roll2 = o();
    const orgs = roll2 < 0.15 ? [] : [...new Set([DEMO_ORGS[Math.floor(o() * DEMO_ORGS.length)] as string, ...(roll2 > 0.85 ? [DEMO_ORGS[Math.floor(o() * DEMO_ORGS.length)] as string] : [])])];
    const orgRoles = Object.fromEntries(orgs.filter(() => o() < 0.3).map((org) => [org, [o() < 0.5 ? "admin" : "viewer"]]));
    row.orgs = orgs.length > 0 ? orgs.join(",") : null;
    row.org_roles = Object.keys(orgRoles).length > 0 ? JSON.stringify(orgRoles) : null;
    if (flaw === null && o() < 0.005) {
      row.orgs = "acme,nowhere-inc";
      row.org_roles = null;
      flaw = "unknown_org";
    }
    rows.push(row);
    flaws.push(flaw);
  }
  // A duplicate email only counts as a flaw if the earlier row with that email is itself valid and earlier.
  return { rows, flaws };
}

export async function createDemoTable(db: PGlite): Promise<void> {
  await db.exec(`
    DROP TABLE IF EXISTS ${DEMO_TABLE};
    CREATE TABLE ${DEMO_TABLE} (
      customer_id text PRIMARY KEY,
      email text,
      first_name text,
      last_name text,
      phone text,
      avatar_url text,
      plan text,
      tier text,
      preferences jsonb,
      roles text,
      orgs text,
      org_roles text,
      is_blocked boolean NOT NULL DEFAULT false,
      status text NOT NULL DEFAULT 'active'
    );`);
}

export async function insertRows(db: Db, table: string, rows: Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] as object);
  const chunk = Math.max(1, Math.floor(30_000 / cols.length));
  for (let i = 0; i < rows.length; i += chunk) {
    const part = rows.slice(i, i + chunk);
    const values: unknown[] = [];
    const tuples = part.map((row) => `(${cols.map((c) => `$${values.push(row[c] ?? null)}`).join(",")})`);
    await db.query(`INSERT INTO ${quoteIdent(table)} (${cols.map(quoteIdent).join(",")}) VALUES ${tuples.join(",")}`, values);
  }
}

export async function seedDemo(db: PGlite, n: number, seed = 42): Promise<{ flaws: DemoFlaw[] }> {
  await createDemoTable(db);
  const { rows, flaws } = generateUsers(n, seed);
  await insertRows(db, DEMO_TABLE, rows as unknown as Record<string, unknown>[]);
  return { flaws };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The first table named after FROM in the config's SQL: where --csv rows go. */
export function tableFromSql(sql: string): string {
  const m = /\bfrom\s+("?)([A-Za-z_][A-Za-z0-9_$.]*)\1/i.exec(sql);
  if (!m) throw new Error("Cannot find the table in the config's SQL (no FROM <table>); --csv needs it");
  return m[2] as string;
}

/**
 * Replaces the table with the CSV's rows. The header line names the columns; every column is text (the mapper
 * parses booleans and JSON), and an empty cell is NULL.
 */
export async function loadCsv(db: Db, table: string, csv: string, path = "the CSV"): Promise<number> {
  const lines: string[][] = parse(csv, { to_line: 1, trim: true, bom: true });
  const header = lines[0] ?? [];
  if (header.length === 0) throw new Error(`The CSV ${path} has no header line; the warehouse is unchanged`);
  // csv-parse keeps the last of two columns of one name: the other column's values would vanish unseen.
  const twice = header.findIndex((h, i) => header.indexOf(h) !== i);
  if (twice >= 0) throw new Error(`The CSV ${path} names the column '${header[twice]}' twice in its header (columns ${header.indexOf(header[twice]!) + 1} and ${twice + 1}): rename one; the warehouse is unchanged`);
  const records = parse<Record<string, string>>(csv, { columns: true, skip_empty_lines: true, trim: true, bom: true });
  for (const h of header) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(h)) throw new Error(`The CSV ${path}: header '${h}' is not a usable column name (letters, digits and _); the warehouse is unchanged`);
  }
  await db.exec(`DROP TABLE IF EXISTS ${quoteIdent(table)}; CREATE TABLE ${quoteIdent(table)} (${header.map((h) => `${quoteIdent(h)} text`).join(", ")});`);
  await insertRows(
    db,
    table,
    records.map((r) => Object.fromEntries(header.map((h) => [h, r[h] === "" ? null : r[h]]))),
  );
  return records.length;
}

/**
 * Replaces the table with the CSV's rows only if the config's SQL then runs: loaded and checked in one
 * transaction, so a CSV without a column the SQL needs leaves the warehouse as it was. Returns the row count.
 */
export async function loadCsvChecked(db: PGlite, table: string, csv: string, path: string, check: { text: string; values: string[] }): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await loadCsv(tx, table, csv, path);
    const sql = check.text.trim().replace(/;+\s*$/, "");
    try {
      await tx.query(`SELECT * FROM (${sql}) AS csv_check LIMIT 0`, check.values);
    } catch (err) {
      throw new Error(`The CSV ${path} does not fit the config's SQL (${(err as Error).message}); the warehouse is unchanged`);
    }
    return rows;
  });
}

