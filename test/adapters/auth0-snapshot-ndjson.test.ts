import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { MalformedLineError, ndjsonRecords, type NdjsonRecord } from "../../functions/adapters/auth0/ndjson.js";

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === "string" ? Buffer.from(p, "utf8") : p;
}

/** A buffer cut into pieces of `size` bytes, also in the middle of multi-byte characters and gzip blocks. */
const pieces = (b: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));

async function collect(source: AsyncIterable<Uint8Array>, maxLineBytes?: number): Promise<NdjsonRecord[]> {
  const out: NdjsonRecord[] = [];
  for await (const r of ndjsonRecords(source, { maxLineBytes })) out.push(r);
  return out;
}

async function failure(p: Promise<unknown>): Promise<MalformedLineError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedLineError);
    return err as MalformedLineError;
  }
  throw new Error("expected a MalformedLineError");
}

const text = '{"a":1}\r\n\n{"b":"Zoë 🎉"}\n{"c":[1,2]}';

describe("NDJSON reader", () => {
  it("reads plain NDJSON: CRLF, blank lines skipped but counted, a last line without a newline, characters split across chunks", async () => {
    const expected = [
      { line: 1, value: { a: 1 } },
      { line: 3, value: { b: "Zoë 🎉" } },
      { line: 4, value: { c: [1, 2] } },
    ];
    expect(await collect(chunks(text))).toEqual(expected);
    expect(await collect(chunks(...pieces(Buffer.from(text, "utf8"), 1)))).toEqual(expected);
  });

  it("detects gzip by its magic bytes, even when they arrive in separate chunks", async () => {
    const gz = gzipSync(Buffer.from(text, "utf8"));
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    expect(await collect(chunks(gz))).toHaveLength(3);
    expect(await collect(chunks(...pieces(gz, 1)))).toHaveLength(3);
    expect(await collect(chunks(...pieces(gz, 7)))).toEqual(await collect(chunks(text)));
  });

  it("with exactIntegers, an integer a double would change is a BigInt; everything else is as JSON.parse gives it (issue 24, point 2)", async () => {
    const line = '{"user_id":"auth0|1","app_metadata":{"big":12345678901234567890,"neg":-9007199254740993,"safe":9007199254740991,"pow":1152921504606846976,"printed":21966553759341750,"f":1.5e300,"s":"12345678901234567890","k":{"12345678901234567891":[98765432109876543210]}}}';
    const exact: NdjsonRecord[] = [];
    for await (const r of ndjsonRecords(chunks(`${line}\n`), { exactIntegers: true })) exact.push(r);
    expect(exact[0]!.value).toEqual({
      user_id: "auth0|1",
      app_metadata: { big: 12345678901234567890n, neg: -9007199254740993n, safe: 9007199254740991, pow: 1152921504606846976n, printed: 21966553759341750, f: 1.5e300, s: "12345678901234567890", k: { "12345678901234567891": [98765432109876543210n] } },
    });
    // Without it (the reconcile's export), JSON.parse's doubles, as before.
    expect((await collect(chunks(line)))[0]!.value).toEqual(JSON.parse(line));
    // A malformed line is still named by its number only.
    const bad = [];
    await expect(
      (async () => {
        for await (const r of ndjsonRecords(chunks('{"big":12345678901234567890,\n'), { exactIntegers: true })) bad.push(r);
      })(),
    ).rejects.toThrow("line 1: not valid JSON");
  });

  it("reads an empty body and a one-byte body", async () => {
    expect(await collect(chunks())).toEqual([]);
    expect(await collect(chunks("\n"))).toEqual([]);
    expect(await collect(chunks("1"))).toEqual([{ line: 1, value: 1 }]);
  });

  it("names the line of a malformed record, never its content", async () => {
    const body = '{"email":"a@example.com"}\n{"email":"secret@example.com",\n';
    for (const source of [chunks(body), chunks(gzipSync(Buffer.from(body)))]) {
      const e = await failure(collect(source));
      expect(e.line).toBe(2);
      expect(e.message).toBe("line 2: not valid JSON");
      expect(e.cause).toBeUndefined();
    }
  });

  it("refuses a line longer than the limit before holding it whole", async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('{"ok":1}\n');
      for (;;) {
        pulled++;
        yield Buffer.alloc(1024, "x");
      }
    }
    const e = await failure(collect(endless(), 64 * 1024));
    expect(e.message).toBe("line 2: longer than 65536 bytes");
    expect(pulled).toBeLessThan(70);
  });

  it("a corrupt gzip stream is an error", async () => {
    const gz = gzipSync(Buffer.from(text));
    await expect(collect(chunks(gz.subarray(0, gz.length - 12)))).rejects.toThrow(/unexpected end of file/);
  });

  it("streams: the first record comes before the source is read further, and stopping early releases the source", async () => {
    let pulled = 0;
    let released = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; i < 100_000; i++) {
          pulled++;
          yield Buffer.from(`{"i":${i}}\n`);
        }
      } finally {
        released = true;
      }
    }
    for await (const r of ndjsonRecords(source())) {
      expect(r).toEqual({ line: 1, value: { i: 0 } });
      // Readable.from reads ahead up to its high-water mark (16 objects): never the whole source.
      expect(pulled).toBeLessThan(50);
      break;
    }
    expect(released).toBe(true);
  });

  it("streams gzip the same way", async () => {
    const lines = Array.from({ length: 50_000 }, (_, i) => `{"i":${i},"pad":"${"p".repeat(i % 97)}"}\n`).join("");
    const gz = pieces(gzipSync(Buffer.from(lines)), 4096);
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (const c of gz) {
        pulled++;
        yield c;
      }
    }
    let n = 0;
    for await (const r of ndjsonRecords(source())) {
      if (n === 0) expect(pulled).toBeLessThan(gz.length / 2);
      expect(r.value).toMatchObject({ i: n });
      n++;
    }
    expect(n).toBe(50_000);
    expect(pulled).toBe(gz.length);
  });
});
