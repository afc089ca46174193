/**
 * UNLOAD for the Data API emulator, as Redshift documents it: `UNLOAD ('select ...') TO 's3://bucket/prefix'
 * IAM_ROLE '<arn>' | default [FORMAT [AS] PARQUET] [MAXFILESIZE [AS] n MB|GB] [MANIFEST [VERBOSE]]
 * [ALLOWOVERWRITE] [PARALLEL ON|OFF]`. The inner query runs on PGlite; its rows are written, as Redshift's slices do,
 * to `<prefix><slice>_part_<nn>.parquet` files of at most MAXFILESIZE (Parquet written with hyparquet-writer, column
 * types kept: integers, floats, booleans, DECIMAL with its scale, DATE, TIMESTAMP in microseconds, text, bytes), and
 * the manifest lists each file with its size and row count. A destination that already holds files is refused
 * without ALLOWOVERWRITE, as Redshift does.
 */
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { PGlite } from "@electric-sql/pglite";
import { parquetWriteBuffer } from "hyparquet-writer";

export interface UnloadCommand {
  query: string;
  bucket: string;
  prefix: string;
  iamRole: string;
  format: "parquet" | "text";
  maxFileSizeBytes: number;
  manifest: boolean;
  verbose: boolean;
  allowOverwrite: boolean;
  parallel: boolean;
}

/** Redshift's MAXFILESIZE bounds (5 MB to 6.2 GB) and default (6.2 GB). */
const MAX_FILE_BYTES = { min: 5 * 2 ** 20, max: 6.2 * 2 ** 30 };

export class UnloadSyntaxError extends Error {}

/** A quoted string at `i` ('...' with '' and \' escapes, or $$...$$): its text and where it ends. */
function quoted(sql: string, i: number): { text: string; end: number } {
  if (sql.startsWith("$$", i)) {
    const end = sql.indexOf("$$", i + 2);
    if (end === -1) throw new UnloadSyntaxError("unterminated dollar-quoted string");
    return { text: sql.slice(i + 2, end), end: end + 2 };
  }
  if (sql[i] !== "'") throw new UnloadSyntaxError(`syntax error at or near "${sql.slice(i, i + 10)}"`);
  let text = "";
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j] as string;
    if (c === "\\" && j + 1 < sql.length) {
      text += sql[j + 1];
      j += 2;
    } else if (c === "'" && sql[j + 1] === "'") {
      text += "'";
      j += 2;
    } else if (c === "'") {
      return { text, end: j + 1 };
    } else {
      text += c;
      j++;
    }
  }
  throw new UnloadSyntaxError("unterminated quoted string");
}

/** The UNLOAD command in a statement's text, or undefined when it is another statement. */
export function parseUnload(sql: string): UnloadCommand | undefined {
  const head = /^\s*unload\s*\(\s*/i.exec(sql);
  if (!head) return undefined;
  const q = quoted(sql, head[0].length);
  const rest = sql.slice(q.end);
  const close = /^\s*\)\s*to\s*/i.exec(rest);
  if (!close) throw new UnloadSyntaxError("syntax error: expected ) TO 's3://...'");
  const to = quoted(rest, close[0].length);
  const url = /^s3:\/\/([^/]+)\/(.*)$/.exec(to.text);
  if (!url) throw new UnloadSyntaxError(`invalid S3 location: ${to.text}`);
  let options = rest.slice(to.end).trim().replace(/;\s*$/, "");
  const cmd: UnloadCommand = { query: q.text, bucket: url[1] as string, prefix: url[2] as string, iamRole: "", format: "text", maxFileSizeBytes: MAX_FILE_BYTES.max, manifest: false, verbose: false, allowOverwrite: false, parallel: true };
  const take = (re: RegExp): RegExpExecArray | null => {
    const m = re.exec(options);
    if (m) options = options.slice(m[0].length).trim();
    return m;
  };
  while (options.length > 0) {
    let m: RegExpExecArray | null;
    if ((m = take(/^iam_role\s+(default\b|'[^']*')/i))) cmd.iamRole = (m[1] as string).replace(/'/g, "");
    else if ((m = take(/^format\s+(as\s+)?(parquet|csv|json)\b/i))) cmd.format = (m[2] as string).toLowerCase() === "parquet" ? "parquet" : "text";
    else if (take(/^parquet\b/i)) cmd.format = "parquet";
    else if ((m = take(/^maxfilesize\s+(as\s+)?(\d+(\.\d+)?)\s*(mb|gb)\b/i))) {
      const bytes = Number(m[2]) * (m[4]!.toLowerCase() === "gb" ? 2 ** 30 : 2 ** 20);
      if (bytes < MAX_FILE_BYTES.min || bytes > MAX_FILE_BYTES.max) throw new UnloadSyntaxError("MAXFILESIZE must be between 5 MB and 6.2 GB");
      cmd.maxFileSizeBytes = bytes;
    } else if ((m = take(/^manifest(\s+verbose)?\b/i))) {
      cmd.manifest = true;
      cmd.verbose = m[1] !== undefined;
    } else if (take(/^allowoverwrite\b/i)) cmd.allowOverwrite = true;
    else if ((m = take(/^parallel\s+(on|off|true|false)\b/i))) cmd.parallel = /on|true/i.test(m[1] as string);
    else throw new UnloadSyntaxError(`syntax error at or near "${options.split(/\s+/)[0]}"`);
  }
  if (!cmd.iamRole) throw new UnloadSyntaxError("UNLOAD needs IAM_ROLE (an IAM role ARN or default)");
  if (cmd.format !== "parquet") throw new UnloadSyntaxError("the emulator unloads FORMAT PARQUET only");
  if (/\blimit\s+\d+\s*$/i.test(cmd.query.trim())) throw new UnloadSyntaxError("Limit clause is not supported in the outer select of UNLOAD");
  return cmd;
}

type Column = { name: string; typeId: number };
/** A Parquet schema element, as hyparquet-writer takes it. */
type Element = Record<string, unknown> & { name: string };

const INT32 = new Set([21, 23]);
const TEXT = new Set([25, 1042, 1043, 114, 3802]);

/** Digits after the point in a numeric's text, the largest of the column: the DECIMAL's scale. */
function decimalScale(values: unknown[]): number {
  let scale = 0;
  for (const v of values) if (typeof v === "string" && v.includes(".")) scale = Math.max(scale, v.length - v.indexOf(".") - 1);
  return scale;
}

function unscaled(text: string, scale: number): bigint {
  const [int = "0", frac = ""] = text.split(".");
  return BigInt(`${int}${frac.padEnd(scale, "0")}`);
}

/** Microseconds since the epoch of a timestamp's text as Postgres writes it (UTC). */
function micros(text: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.(\d{1,6}))?([+-]\d{2}(:?\d{2})?)?$/.exec(text);
  if (!m) throw new Error(`unsupported timestamp ${text}`);
  const tz = m[5] ? `${m[5]}${m[6] ? "" : ":00"}` : "Z";
  const ms = Date.parse(`${m[1]}T${m[2]}${tz}`);
  return BigInt(ms) * 1000n + BigInt((m[4] ?? "").padEnd(6, "0"));
}

/** A column of PGlite values as Redshift would write it to Parquet: its schema element and its data. */
function parquetColumn(col: Column, values: unknown[]): { element: Element; data: unknown[] } {
  const name = col.name;
  const t = col.typeId;
  const opt = { name, repetition_type: "OPTIONAL" };
  if (INT32.has(t)) return { element: { ...opt, type: "INT32" }, data: values.map((v) => (v == null ? null : Number(v))) };
  if (t === 20) return { element: { ...opt, type: "INT64" }, data: values.map((v) => (v == null ? null : BigInt(v as string))) };
  if (t === 700) return { element: { ...opt, type: "FLOAT" }, data: values.map((v) => (v == null ? null : Number(v))) };
  if (t === 701) return { element: { ...opt, type: "DOUBLE" }, data: values.map((v) => (v == null ? null : Number(v))) };
  if (t === 16) return { element: { ...opt, type: "BOOLEAN" }, data: values.map((v) => (v == null ? null : Boolean(v))) };
  if (t === 1700) {
    const scale = decimalScale(values);
    return {
      element: { ...opt, type: "FIXED_LEN_BYTE_ARRAY", type_length: 16, converted_type: "DECIMAL", scale, precision: 38 },
      data: values.map((v) => (v == null ? null : unscaled(v as string, scale))),
    };
  }
  if (t === 1082) return { element: { ...opt, type: "INT32", converted_type: "DATE" }, data: values.map((v) => (v == null ? null : Math.round(Date.parse(`${v as string}T00:00:00Z`) / 86_400_000))) };
  if (t === 1114 || t === 1184) {
    return {
      element: { ...opt, type: "INT64", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: t === 1184, unit: "MICROS" } },
      data: values.map((v) => (v == null ? null : micros(v as string))),
    };
  }
  if (t === 17) return { element: { ...opt, type: "BYTE_ARRAY" }, data: values.map((v) => (v == null ? null : (v as Uint8Array))) };
  // Text, and SUPER/JSON as their JSON text (Redshift writes SUPER to Parquet as text too).
  if (!TEXT.has(t)) throw new Error(`the emulator cannot unload a column of type ${t} (${name})`);
  return { element: { ...opt, type: "BYTE_ARRAY", converted_type: "UTF8" }, data: values.map((v) => (v == null ? null : typeof v === "string" ? v : JSON.stringify(v))) };
}

/** A file's rows: bytes estimated per row so the files stay under MAXFILESIZE. */
function splitBySize(rows: unknown[][], maxBytes: number): unknown[][][] {
  const files: unknown[][][] = [];
  let current: unknown[][] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = JSON.stringify(row, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)).length;
    if (current.length > 0 && bytes + size > maxBytes) {
      files.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0 || files.length === 0) files.push(current);
  return files;
}

export interface UnloadResult {
  rows: number;
  files: { key: string; bytes: number; rows: number }[];
}

/**
 * Runs the UNLOAD: the query, then one or more files per slice (rows dealt to `slices` slices in order, as a
 * PARALLEL unload would spread them; one slice with PARALLEL OFF), then the manifest.
 */
export async function runUnload(db: PGlite, s3: S3Client, cmd: UnloadCommand, opts: { slices: number; textParsers: Record<number, (v: string) => unknown> }): Promise<UnloadResult> {
  if (!cmd.allowOverwrite) {
    // Without MaxKeys: s3rver 3.7 fails a listing truncated by it (InternalError).
    const existing = await s3.send(new ListObjectsV2Command({ Bucket: cmd.bucket, Prefix: cmd.prefix }));
    if ((existing.KeyCount ?? 0) > 0) throw new Error(`Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, manually removing the target files in S3, or using the ALLOWOVERWRITE option.`);
  }
  const r = await db.query<unknown[]>(cmd.query, [], { rowMode: "array", parsers: opts.textParsers });
  const columns: Column[] = r.fields.map((f) => ({ name: f.name, typeId: f.dataTypeID }));
  const slices = cmd.parallel ? Math.max(1, opts.slices) : 1;
  const per = Math.ceil(r.rows.length / slices);
  const files: UnloadResult["files"] = [];
  for (let s = 0; s < slices; s++) {
    const sliceRows = r.rows.slice(s * per, (s + 1) * per);
    if (sliceRows.length === 0 && s > 0) continue;
    const parts = splitBySize(sliceRows, cmd.maxFileSizeBytes);
    for (const [p, rows] of parts.entries()) {
      const cols = columns.map((c, i) => parquetColumn(c, rows.map((row) => row[i])));
      const buffer = parquetWriteBuffer({
        columnData: cols.map((c) => ({ name: c.element.name, data: c.data as never })),
        schema: [{ name: "root", num_children: cols.length }, ...cols.map((c) => c.element)] as never,
        rowGroupSize: 10_000,
        createdBy: "redshift-data-emulator",
      });
      const key = `${cmd.prefix}${String(s).padStart(4, "0")}_part_${String(p).padStart(2, "0")}.parquet`;
      await s3.send(new PutObjectCommand({ Bucket: cmd.bucket, Key: key, Body: new Uint8Array(buffer) }));
      files.push({ key, bytes: buffer.byteLength, rows: rows.length });
    }
  }
  if (cmd.manifest) {
    const manifest: Record<string, unknown> = {
      entries: files.map((f) => ({ url: `s3://${cmd.bucket}/${f.key}`, meta: { content_length: f.bytes, record_count: f.rows } })),
    };
    if (cmd.verbose) {
      manifest.schema = { elements: columns.map((c) => ({ name: c.name, type: { base: TYPE_BASE[c.typeId] ?? "character varying" } })) };
      manifest.meta = { content_length: files.reduce((n, f) => n + f.bytes, 0), record_count: r.rows.length };
      manifest.author = { name: "Amazon Redshift", version: "1.0.0" };
    }
    await s3.send(new PutObjectCommand({ Bucket: cmd.bucket, Key: `${cmd.prefix}manifest`, Body: JSON.stringify(manifest), ContentType: "application/json" }));
  }
  return { rows: r.rows.length, files };
}

const TYPE_BASE: Record<number, string> = { 16: "boolean", 17: "varbyte", 20: "bigint", 21: "smallint", 23: "integer", 700: "real", 701: "double precision", 1082: "date", 1114: "timestamp without time zone", 1184: "timestamp with time zone", 1700: "numeric", 3802: "super" };
