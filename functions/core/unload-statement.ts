/**
 * The UNLOAD statement a run sends through the Data API (Redshift writes the result to S3 itself, in parallel, as
 * Parquet files of at most MAXFILESIZE, with a manifest that lists them and their row counts). Pure: text in, text out.
 *
 * The config's SQL goes inside `$$ ... $$` (Redshift's dollar quoting: its own quotes need no escaping). Named
 * parameters are written into it as string literals, since the Data API's parameters are not bound inside the quoted
 * query UNLOAD runs; a value holding `$$` would end the quoting and is refused.
 */
import { SyncError } from "./errors.js";
import type { UnloadConfig } from "./extract-config.js";

export class UnloadStatementError extends SyncError {
  override readonly name = "UnloadStatementError";
  readonly retryable = false;
}

/** Where one run's files go: `s3://<bucket>/<prefix><config name>/<run id>/`. */
export function unloadLocation(unload: Pick<UnloadConfig, "prefix">, bucket: string, configName: string, runId: string): { bucket: string; prefix: string; url: string } {
  const prefix = `${unload.prefix}${configName}/${runId}/`;
  return { bucket, prefix, url: `s3://${bucket}/${prefix}` };
}

/** The manifest UNLOAD writes beside the files (`MANIFEST` appends "manifest" to the TO prefix). */
export function manifestKey(prefix: string): string {
  return `${prefix}manifest`;
}

/** `:name` placeholders (outside quoted strings and `::` casts) replaced by quoted literals. */
export function inlineParameters(sql: string, parameters: Record<string, string> = {}): string {
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === ":" && sql[i + 1] === ":") {
      out += "::";
      i += 2;
      continue;
    }
    const m = c === ":" ? /^:([A-Za-z_][A-Za-z0-9_]*)/.exec(sql.slice(i)) : null;
    if (m) {
      const name = m[1] as string;
      const value = parameters[name];
      if (value === undefined) throw new UnloadStatementError(`source.sql uses the parameter :${name}, which source.parameters does not give`);
      out += `'${value.replaceAll("'", "''")}'`;
      i += m[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** The config's SELECT with its parameters written in, as UNLOAD quotes it (it binds no parameters). */
export function measuredQuery(src: { sql: string; parameters?: Record<string, string> }): string {
  return inlineParameters(src.sql.trim().replace(/;\s*$/, ""), src.parameters);
}

/** The statement: the config's SELECT unloaded as Parquet, with a verbose manifest (row counts per file). */
export function unloadStatement(src: { sql: string; parameters?: Record<string, string> }, unload: Pick<UnloadConfig, "iamRole" | "maxFileSizeMb">, url: string): string {
  const inner = measuredQuery(src);
  if (inner.includes("$$")) throw new UnloadStatementError("source.sql (with its parameters) holds '$$', which would end UNLOAD's quoting of the query: write it another way");
  const role = unload.iamRole === "default" ? "default" : `'${unload.iamRole}'`;
  return [`UNLOAD ($$${inner}$$)`, `TO '${url}'`, `IAM_ROLE ${role}`, "FORMAT AS PARQUET", `MAXFILESIZE ${unload.maxFileSizeMb} MB`, "MANIFEST VERBOSE", "ALLOWOVERWRITE"].join("\n");
}
