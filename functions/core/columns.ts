/**
 * The config against the columns the statement really returns, before any row is read: a mapping to a column the
 * statement does not return would otherwise map every row without it (and, with `unmappedColumns: user_metadata`,
 * send the real column to user_metadata), and a missing email or key column would reject every row one by one.
 */
import type { SyncConfig } from "./config.js";

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

/** The columns that go to user_metadata under their own names (`unmappedColumns: user_metadata`). */
export function unmappedColumns(config: SyncConfig, returned: string[]): string[] {
  if (config.unmappedColumns !== "user_metadata") return [];
  const named = new Set(configuredColumns(config).map((c) => c.column));
  return returned.filter((c) => !named.has(c));
}

/** The run cannot start: the config names columns the statement does not return. Not retryable: fix the config or the SQL. */
export class MissingColumnsError extends Error {
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = "MissingColumnsError";
  }
}
