/**
 * Newline-delimited JSON from a byte stream, gzip-compressed or not (detected by the gzip magic bytes 1f 8b),
 * one record at a time: memory holds one chunk and one line, never the whole body. Errors name a line number,
 * never a line's content (an export line holds an email address).
 */
import { Readable, pipeline } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";
import { parseJsonExact } from "../../core/json-text.js";

export interface NdjsonRecord {
  /** 1-based line number in the (decompressed) body. */
  line: number;
  value: unknown;
}

/** A line that is not JSON, or too long to be one record. Its message never quotes the line. */
export class MalformedLineError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = "MalformedLineError";
  }
}

/** Auth0 caps a user profile at 10 KB; a line far beyond that is not a user and must not fill the memory. */
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** The source's bytes with `head` (already read from `rest`) put back in front; ending it releases the source. */
async function* prepend(head: Buffer, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    if (head.length > 0) yield head;
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await rest.return?.();
  }
}

function parse(text: string, line: number, exactIntegers: boolean): unknown {
  try {
    return exactIntegers ? parseJsonExact(text) : (JSON.parse(text) as unknown);
  } catch {
    // The SyntaxError quotes the text: neither its message nor the error itself may travel on.
    throw new MalformedLineError(line, "not valid JSON");
  }
}

/**
 * The records of an NDJSON body. Blank lines are skipped (their numbers still count) and a final line without
 * a newline is read. Stopping early (break, return, an error) releases the source. With `exactIntegers`, an
 * integer a double cannot hold exactly is a BigInt (core/json-text.ts), not a rounded number.
 */
export async function* ndjsonRecords(source: AsyncIterable<Uint8Array>, opts: { maxLineBytes?: number; exactIntegers?: boolean } = {}): AsyncGenerator<NdjsonRecord> {
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const exact = opts.exactIntegers ?? false;
  const it = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < GZIP_MAGIC.length) {
    const next = await it.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  const gzip = head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  const raw = Readable.from(prepend(head, it), { objectMode: false });
  // pipeline destroys every stream on an error or an early end, and the error surfaces in the loop below.
  const bytes: Readable = gzip ? pipeline(raw, createGunzip(), () => undefined) : raw;
  const decoder = new StringDecoder("utf8");
  let partial = "";
  let line = 0;
  function* complete(text: string): Generator<NdjsonRecord> {
    const lines = text.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) {
      line++;
      const trimmed = l.endsWith("\r") ? l.slice(0, -1) : l;
      if (trimmed.trim() !== "") yield { line, value: parse(trimmed, line, exact) };
    }
    if (partial.length * 3 > maxLine && Buffer.byteLength(partial) > maxLine) throw new MalformedLineError(line + 1, `longer than ${maxLine} bytes`);
  }
  try {
    for await (const chunk of bytes as AsyncIterable<Buffer>) yield* complete(partial + decoder.write(chunk));
    yield* complete(`${partial}${decoder.end()}\n`);
  } finally {
    bytes.destroy();
    raw.destroy();
  }
}
