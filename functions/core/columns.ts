/**
 * The config against the columns the statement really returns, before any row is read: a mapping to a column the
 * statement does not return would otherwise map every row without it (and, with `unmappedColumns: user_metadata`,
 * send the real column to user_metadata), and a missing email or key column would reject every row one by one.
 */
import type { SyncConfig } from "./config.js";
import { SyncError } from "./errors.js";

/** Every column the config names, with the config path that names it. */
export function configuredColumns(config: SyncConfig): { path: string; column: string }[] {
  const out: { path: string; column: string }[] = [];
  if (config.identity.keyColumn) out.push({ path: "identity.keyColumn", column: config.identity.keyColumn });
  out.push({ path: "identity.emailColumn", column: config.identity.emailColumn });
  if (config.roles) out.push({ path: "roles.column", column: config.roles.column });
  if (config.organizations) out.push({ path: "organizations.column", column: config.organizations.column });
  if (config.organizations?.roles) out.push({ path: "organizations.roles.column", column: config.organizations.roles.column });
  for (const [target, m] of Object.entries(config.mapping)) out.push({ path: `mapping.${target}`, column: typeof m === "string" ? m : m.column });
  return out;
}

/** One sentence naming each config path whose column the statement does not return, or undefined when all are there. */
export function missingColumns(config: SyncConfig, returned: string[]): string | undefined {
  const have = new Set(returned);
  const missing = configuredColumns(config).filter((c) => !have.has(c.column));
  if (missing.length === 0) return undefined;
  const byLower = new Map(returned.map((c) => [c.toLowerCase(), c]));
  const each = missing.map(({ path, column }) => {
    const near = byLower.get(column.toLowerCase());
    return `${path} names the column '${column}'${near ? ` (the statement returns '${near}': names are case-sensitive)` : ""}`;
  });
  const list = returned.length > 0 ? returned.join(", ") : "none";
  return `The statement does not return every column the config names: ${each.join("; ")}; it returns ${list}.`;
}

/**
 * One sentence naming a column the statement returns twice, or undefined. A row holds one value per name, so one
 * of the two would be dropped unseen (`SELECT u.email, p.email FROM ...`): the run is refused until one is aliased.
 */
export function duplicateColumns(returned: string[]): string | undefined {
  const twice = returned.findIndex((c, i) => returned.indexOf(c) !== i);
  if (twice < 0) return undefined;
  const name = returned[twice]!;
  return `The statement returns the column '${name}' twice (columns ${returned.indexOf(name) + 1} and ${twice + 1}): a row keeps one value per name, so give one another name (AS ...).`;
}

/** Why the run cannot start with these result columns (one returned twice, or one the config names missing), if any. */
export function columnsProblem(config: SyncConfig, returned: string[]): string | undefined {
  return duplicateColumns(returned) ?? missingColumns(config, returned);
}

/** The columns that go to user_metadata under their own names (`unmappedColumns: user_metadata`). */
export function unmappedColumns(config: SyncConfig, returned: string[]): string[] {
  if (config.unmappedColumns !== "user_metadata") return [];
  const named = new Set(configuredColumns(config).map((c) => c.column));
  return returned.filter((c) => !named.has(c));
}

/**
 * The run cannot start: the statement's columns do not fit the config (one it names missing, or one returned twice).
 * Not retryable: fix the config or the SQL.
 */
export class ColumnsError extends SyncError {
  override readonly name = "ColumnsError";
  readonly retryable = false;
}
