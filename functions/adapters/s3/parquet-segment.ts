/**
 * One unloaded Parquet file as a RowSource (core/source.ts): read from S3 by ranged GETs (the footer, then one row
 * group's column chunks at a time), so a worker's memory is one row group whatever the file's or the table's size.
 * Values come out as the Data API gives the same columns (fieldValue in adapters/redshift/source.ts), so a row
 * fingerprints the same whichever path read it and switching paths rewrites no user: integers as numbers (a BIGINT
 * beyond 2^53 as a bigint, exact), DECIMAL as its text with the column's scale, DATE and TIMESTAMP as Redshift's
 * text (`2024-01-02 03:04:05.5`, `+00` for TIMESTAMPTZ), text and SUPER as text, VARBYTE as bytes.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData, type SchemaElement } from "hyparquet";
import { SyncError } from "../../core/errors.js";
import type { Page, RowSource } from "../../core/source.js";
import type { Row, RowValue } from "../../core/types.js";

export class SegmentReadError extends SyncError {
  override readonly name = "SegmentReadError";
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.retryable = opts.retryable;
  }
}

/** An S3 object as hyparquet's AsyncBuffer: its length from HeadObject, each slice one ranged GET. */
export async function s3AsyncBuffer(s3: S3Client, bucket: string, key: string): Promise<AsyncBuffer & { gets: () => number }> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const byteLength = head.ContentLength ?? 0;
  let gets = 0;
  return {
    byteLength,
    gets: () => gets,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      gets++;
      const last = (end ?? byteLength) - 1;
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${last}`, IfMatch: head.ETag }));
      const bytes = await out.Body!.transformToByteArray();
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Microseconds since the epoch as Redshift writes a timestamp: fraction digits without trailing zeros. */
export function timestampText(micros: bigint): string {
  const secs = micros >= 0n ? micros / 1_000_000n : -((-micros + 999_999n) / 1_000_000n);
  const frac = micros - secs * 1_000_000n;
  const d = new Date(Number(secs) * 1000);
  const base = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return frac === 0n ? base : `${base}.${String(frac).padStart(6, "0").replace(/0+$/, "")}`;
}

function dateText(days: number): string {
  const d = new Date(days * 86_400_000);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** An unscaled DECIMAL (big-endian two's complement bytes, or an integer) as its text with `scale` digits. */
export function decimalText(raw: Uint8Array | bigint | number, scale: number): string {
  let v: bigint;
  if (raw instanceof Uint8Array) {
    v = 0n;
    for (const b of raw) v = (v << 8n) | BigInt(b);
    if (raw.length > 0 && (raw[0] as number) & 0x80) v -= 1n << BigInt(raw.length * 8);
  } else v = BigInt(raw);
  const negative = v < 0n;
  const digits = (negative ? -v : v).toString().padStart(scale + 1, "0");
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

const utf8 = new TextDecoder();

/** How each column's decoded value becomes the Data API's value. */
type Fixup = (v: unknown) => RowValue;

/**
 * The file's metadata with DECIMAL annotations removed (hyparquet would turn them into doubles, which round), and
 * the per-column conversions that read them exactly instead.
 */
function exactMetadata(meta: FileMetaData): { metadata: FileMetaData; columns: string[]; fixups: Map<string, Fixup> } {
  const fixups = new Map<string, Fixup>();
  const columns: string[] = [];
  const schema = meta.schema.map((el: SchemaElement, i): SchemaElement => {
    if (i === 0) return el;
    if (el.num_children) throw new SegmentReadError(`column ${el.name} is nested; unloaded columns are flat`, { retryable: false });
    columns.push(el.name);
    const isDecimal = el.converted_type === "DECIMAL" || el.logical_type?.type === "DECIMAL";
    if (isDecimal) {
      const scale = el.scale ?? (el.logical_type?.type === "DECIMAL" ? el.logical_type.scale : 0) ?? 0;
      fixups.set(el.name, (v) => (v == null ? null : decimalText(v as Uint8Array | bigint | number, scale)));
      return { ...el, converted_type: undefined, logical_type: undefined };
    }
    const ts = el.logical_type?.type === "TIMESTAMP" ? el.logical_type : undefined;
    if (ts?.isAdjustedToUTC) fixups.set(el.name, (v) => (v == null ? null : `${v as string}+00`));
    return el;
  });
  return { metadata: { ...meta, schema }, columns, fixups };
}

const PARSERS = {
  timestampFromMilliseconds: (ms: bigint) => timestampText(BigInt(ms) * 1000n),
  timestampFromMicroseconds: (us: bigint) => timestampText(BigInt(us)),
  timestampFromNanoseconds: (ns: bigint) => timestampText(BigInt(ns) / 1000n),
  dateFromDays: (days: number) => dateText(days),
  jsonFromBytes: (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : utf8.decode(bytes)),
};

function plain(v: unknown): RowValue {
  if (v === undefined || v === null) return null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  return v as RowValue;
}

export interface ParquetSegment {
  bucket: string;
  key: string;
}

/** One file of an unload, page by page (pages of at most `pageSize` rows, one row group read at a time). */
export class ParquetSegmentSource implements RowSource {
  resultRows?: number;
  /** Ranged GETs made (the bench's requests per segment). */
  gets = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly segment: ParquetSegment,
    private readonly pageSize = 1000,
  ) {}

  async *pages(): AsyncGenerator<Page> {
    const { bucket, key } = this.segment;
    let file: Awaited<ReturnType<typeof s3AsyncBuffer>>;
    let meta: FileMetaData;
    try {
      file = await s3AsyncBuffer(this.s3, bucket, key);
      meta = await parquetMetadataAsync(file);
    } catch (err) {
      throw new SegmentReadError(`segment s3://${bucket}/${key} could not be read: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, cause: err });
    }
    const { metadata, columns, fixups } = exactMetadata(meta);
    this.resultRows = Number(meta.num_rows);
    let start = 0;
    for (const group of meta.row_groups) {
      const end = start + Number(group.num_rows);
      const objects = await parquetReadObjects({ file, metadata, rowStart: start, rowEnd: end, utf8: false, parsers: PARSERS });
      this.gets = file.gets();
      for (let i = 0; i < objects.length; i += this.pageSize) {
        const rows: Row[] = objects.slice(i, i + this.pageSize).map((o) => {
          const row: Row = {};
          for (const c of columns) {
            const fix = fixups.get(c);
            row[c] = fix ? fix(o[c]) : plain(o[c]);
          }
          return row;
        });
        yield { columns, rows };
      }
      start = end;
    }
    if (meta.row_groups.length === 0) yield { columns, rows: [] };
  }
}
