/**
 * UNLOAD through the Data API emulator into the local S3 stand-in, and the unloaded Parquet files read back by the
 * segment source: the same rows, value for value, as the Data API path gives (so a row fingerprints the same on
 * both paths), the manifest's counts, and Redshift's refusals.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { DescribeStatementCommand, ExecuteStatementCommand, RedshiftDataClient } from "@aws-sdk/client-redshift-data";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { RedshiftSource } from "../../functions/adapters/redshift/source.js";
import { ParquetSegmentSource, decimalText, timestampText } from "../../functions/adapters/s3/parquet-segment.js";
import { unloadLocation, unloadStatement } from "../../functions/core/unload-statement.js";
import type { Row } from "../../functions/core/types.js";
import { DEMO_TABLE, seedDemo } from "../../local/demo-data.js";
import { RedshiftDataEmulator } from "../../local/redshift-data-emulator.js";
import { startS3, type LocalS3 } from "../../local/s3.js";
import { tempDir } from "../helpers/tmp.js";

const FAKE = { region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } };
const BUCKET = "unload-bucket";
const ROLE = { iamRole: "arn:aws:iam::123456789012:role/redshift-unload", maxFileSizeMb: 5 };

describe("UNLOAD to the local S3 and the segment source", () => {
  let s3: LocalS3;
  let client: S3Client;
  let emu: RedshiftDataEmulator;
  let data: RedshiftDataClient;
  let run = 0;
  beforeAll(async () => {
    s3 = await startS3(tempDir(), [BUCKET]);
    client = s3.client();
    emu = new RedshiftDataEmulator({ s3: client, slices: 3, pageSize: 50 });
    data = new RedshiftDataClient({ ...FAKE, endpoint: await emu.start() });
    await emu.db.exec(`
      CREATE TABLE kinds (id int, small int2, name text, price numeric(12,2), neg numeric(10,3), at timestamp, atz timestamptz, day date, ok boolean, data bytea, doc jsonb, ratio float8, big int8, huge int8);
      INSERT INTO kinds VALUES (1, 7, 'a ''quoted'' é', 12.50, -0.125, '2024-01-02 03:04:05', '2024-01-02 03:04:05.5+00', '2024-02-29', true, '\\x0102ff', '{"a":1,"b":[true,null]}', 0.25, 9007199254740991, 9223372036854775807),
                               (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                               (3, -7, '', 0.00, 12345.678, '1999-12-31 23:59:59.123456', '2000-01-01 00:00:00+00', '1970-01-01', false, '\\x', '[]', -1.5e300, -42, -9223372036854775808);`);
    await seedDemo(emu.db, 500);
  });
  afterAll(async () => {
    await emu.stop();
    await s3.stop();
  });

  async function dataApiRows(sql: string): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const p of new RedshiftSource(data, { workgroupName: "wg", database: "dev", sql }, { minMs: 5 }).pages()) rows.push(...p.rows);
    return rows;
  }

  async function unload(sql: string, parameters?: Record<string, string>): Promise<{ prefix: string; status: string; error?: string }> {
    const { prefix, url } = unloadLocation({ prefix: "unload/" }, BUCKET, "acme-users", `run-${++run}`);
    const { Id } = await data.send(new ExecuteStatementCommand({ Sql: unloadStatement({ sql, parameters }, ROLE, url), Database: "dev", WorkgroupName: "wg" }));
    for (;;) {
      const d = await data.send(new DescribeStatementCommand({ Id }));
      if (d.Status === "FINISHED" || d.Status === "FAILED" || d.Status === "ABORTED") return { prefix, status: d.Status, error: d.Error };
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async function manifest(prefix: string): Promise<{ entries: { url: string; meta: { content_length: number; record_count: number } }[]; meta: { record_count: number } }> {
    const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}manifest` }));
    return JSON.parse(await out.Body!.transformToString()) as Awaited<ReturnType<typeof manifest>>;
  }

  async function segmentRows(prefix: string): Promise<Row[]> {
    const rows: Row[] = [];
    for (const e of (await manifest(prefix)).entries) {
      const key = e.url.replace(`s3://${BUCKET}/`, "");
      for await (const p of new ParquetSegmentSource(client, { bucket: BUCKET, key }, 40).pages()) rows.push(...p.rows);
    }
    return rows;
  }

  it("every column kind reads back as the Data API gives it", async () => {
    const sql = "SELECT * FROM kinds ORDER BY id";
    const u = await unload(sql);
    expect(u).toMatchObject({ status: "FINISHED" });
    const viaSegments = await segmentRows(u.prefix);
    const viaDataApi = await dataApiRows(sql);
    const withoutHuge = (rows: Row[]) => rows.map(({ huge: _huge, ...r }) => r);
    expect(withoutHuge(viaSegments)).toEqual(withoutHuge(viaDataApi));
    // BIGINT beyond 2^53: exact through Parquet (the Data API's longValue is a double).
    expect(viaSegments.map((r) => r.huge)).toEqual([9223372036854775807n, null, -9223372036854775808n]);
    expect(viaSegments[0]).toMatchObject({ price: "12.50", neg: "-0.125", at: "2024-01-02 03:04:05", atz: "2024-01-02 03:04:05.5+00", day: "2024-02-29", doc: '{"a": 1, "b": [true, null]}', big: 9007199254740991 });
  });

  it("the demo table: one file or more per slice, the manifest's counts add up, the rows are the Data API's", async () => {
    const sql = `SELECT * FROM ${DEMO_TABLE} ORDER BY customer_id`;
    const u = await unload(sql);
    const m = await manifest(u.prefix);
    expect(m.entries.length).toBeGreaterThanOrEqual(3);
    expect(m.entries.reduce((n, e) => n + e.meta.record_count, 0)).toBe(500);
    expect(m.meta.record_count).toBe(500);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: u.prefix }));
    expect(listed.Contents?.map((c) => c.Key).sort()).toEqual([...m.entries.map((e) => e.url.replace(`s3://${BUCKET}/`, "")), `${u.prefix}manifest`].sort());
    for (const e of m.entries) expect(listed.Contents?.find((c) => e.url.endsWith(c.Key!))?.Size).toBe(e.meta.content_length);
    expect(await segmentRows(u.prefix)).toEqual(await dataApiRows(sql));
  });

  it("parameters are written into the quoted query; Redshift's refusals are the statement's error", async () => {
    const u = await unload("SELECT id, name FROM kinds WHERE name = :n OR id = :id::int", { n: "a 'quoted' é", id: "3" });
    expect(await segmentRows(u.prefix)).toEqual([{ id: 1, name: "a 'quoted' é" }, { id: 3, name: "" }]);
    await expect(data.send(new ExecuteStatementCommand({ Sql: "UNLOAD ('select 1') TO 's3://b/p/'", Database: "dev", WorkgroupName: "wg" }))).rejects.toThrow(/IAM_ROLE/);
    await expect(data.send(new ExecuteStatementCommand({ Sql: `UNLOAD ('select 1 limit 5') TO 's3://b/p/' IAM_ROLE default PARQUET`, Database: "dev", WorkgroupName: "wg" }))).rejects.toThrow(/Limit clause/);
    // The same destination again without ALLOWOVERWRITE: refused by Redshift, nothing replaced.
    const sql = `UNLOAD ('select 1 as one') TO 's3://${BUCKET}/${u.prefix}' IAM_ROLE default FORMAT PARQUET`;
    const { Id } = await data.send(new ExecuteStatementCommand({ Sql: sql, Database: "dev", WorkgroupName: "wg" }));
    await new Promise((r) => setTimeout(r, 200));
    expect(await data.send(new DescribeStatementCommand({ Id }))).toMatchObject({ Status: "FAILED", Error: expect.stringMatching(/unload destination on S3 is not empty/) });
  });

  it("timestamps and decimals are formatted exactly (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -62135596800000000n, max: 253402300799999999n }), (us) => {
        const text = timestampText(us);
        const [date, time] = text.split(" ");
        const [hms, frac = ""] = time!.split(".");
        const back = BigInt(Date.parse(`${date}T${hms}Z`)) * 1000n + BigInt(frac.padEnd(6, "0"));
        expect(back).toBe(us);
        expect(frac.endsWith("0")).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 38n), max: 10n ** 38n }), fc.integer({ min: 0, max: 12 }), (v, scale) => {
        const text = decimalText(v, scale);
        expect(BigInt(text.replace(".", ""))).toBe(v);
        expect(scale === 0 ? !text.includes(".") : text.split(".")[1]!.length === scale).toBe(true);
        const bytes = new Uint8Array(16);
        let x = BigInt.asUintN(128, v);
        for (let i = 15; i >= 0; i--) {
          bytes[i] = Number(x & 0xffn);
          x >>= 8n;
        }
        expect(decimalText(bytes, scale)).toBe(text);
      }),
    );
  });
});
