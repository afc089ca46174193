import {
  CancelStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
} from "@aws-sdk/client-redshift-data";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedshiftSource, RedshiftStatementError, ResultTooLargeError } from "../../functions/adapters/redshift/source.js";
import { DATA_API_RESULT_LIMIT_BYTES } from "../../functions/core/extract-config.js";
import { RedshiftDataEmulator, bindNamedParameters } from "../../local/redshift-data-emulator.js";

const FAKE = { region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "y" } };

describe("Redshift source against the Data API emulator", () => {
  let emu: RedshiftDataEmulator;
  let client: RedshiftDataClient;
  beforeAll(async () => {
    emu = new RedshiftDataEmulator({ pageSize: 7 });
    client = new RedshiftDataClient({ ...FAKE, endpoint: await emu.start() });
    await emu.db.exec(`
      CREATE TABLE kinds (id int, name text, price numeric(10,2), at timestamp, ok boolean, data bytea, doc jsonb, ratio float8, big int8);
      INSERT INTO kinds VALUES (1, 'a', 12.50, '2024-01-02 03:04:05', true, '\\x0102ff', '{"a":1}', 0.25, 9007199254740991),
                               (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      CREATE TABLE many AS SELECT g AS id, 'user' || g AS name FROM generate_series(1, 100) g;`);
  });
  afterAll(async () => {
    await emu.stop();
  });

  it("maps every Field kind; decimals and timestamps stay strings", async () => {
    const src = new RedshiftSource(client, { workgroupName: "wg", database: "dev", sql: "SELECT * FROM kinds ORDER BY id" }, { minMs: 5 });
    const pages = [];
    for await (const p of src.run()) pages.push(p);
    expect(pages).toHaveLength(1);
    const [a, b] = pages[0]!.rows;
    expect(pages[0]!.columns).toEqual(["id", "name", "price", "at", "ok", "data", "doc", "ratio", "big"]);
    expect(a).toEqual({
      id: 1,
      name: "a",
      price: "12.50",
      at: "2024-01-02 03:04:05",
      ok: true,
      data: new Uint8Array([1, 2, 255]),
      doc: '{"a": 1}',
      ratio: 0.25,
      big: 9007199254740991,
    });
    expect(Object.values(b!).every((v) => v === null || v === 2)).toBe(true);
  });

  it("streams many pages with NextToken, one page in memory at a time", async () => {
    const src = new RedshiftSource(client, { clusterIdentifier: "c1", database: "dev", sql: "SELECT id, name FROM many ORDER BY id" }, { minMs: 5 });
    const before = emu.calls.GetStatementResult ?? 0;
    const sizes: number[] = [];
    const ids: number[] = [];
    for await (const p of src.run()) {
      sizes.push(p.rows.length);
      ids.push(...p.rows.map((r) => r.id as number));
    }
    expect(sizes).toEqual([...Array(14).fill(7), 2]);
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect((emu.calls.GetStatementResult ?? 0) - before).toBe(15);
  });

  it("passes named parameters", async () => {
    const src = new RedshiftSource(
      client,
      { workgroupName: "wg", database: "dev", sql: "SELECT id FROM many WHERE id > :min AND name <> ':min' AND id::text <> :skip ORDER BY id", parameters: { min: "97", skip: "99" } },
      { minMs: 5 },
    );
    const ids = [];
    for await (const p of src.run()) ids.push(...p.rows.map((r) => r.id));
    expect(ids).toEqual([98, 100]);
    expect(bindNamedParameters("SELECT :a, ':a', :b::int, :a", [{ name: "a", value: "1" }, { name: "b", value: "2" }])).toEqual({
      text: "SELECT $1, ':a', $2::int, $1",
      values: ["1", "2"],
    });
  });

  it("turns a FAILED statement into an error carrying Redshift's message", async () => {
    const src = new RedshiftSource(client, { workgroupName: "wg", database: "dev", sql: "SELECT nope FROM many" }, { minMs: 5 });
    const err = await (async () => {
      try {
        for await (const _ of src.run()) void _;
      } catch (e) {
        return e as RedshiftStatementError;
      }
    })();
    expect(err).toBeInstanceOf(RedshiftStatementError);
    expect(err!.status).toBe("FAILED");
    expect(err!.retryable).toBe(false);
    expect(err!.message).toMatch(/FAILED: ERROR: column "nope" does not exist/);
  });
});

describe("Data API emulator", () => {
  it("cancels a statement that has not finished; the adapter then reports it ABORTED", async () => {
    const emu = new RedshiftDataEmulator({ queueDelayMs: 400 });
    const client = new RedshiftDataClient({ ...FAKE, endpoint: await emu.start() });
    try {
      const src = new RedshiftSource(client, { workgroupName: "wg", database: "dev", sql: "SELECT 1 AS one" }, { minMs: 5 });
      const id = await src.execute();
      expect((await client.send(new DescribeStatementCommand({ Id: id }))).Status).toMatch(/SUBMITTED|STARTED/);
      expect((await client.send(new CancelStatementCommand({ Id: id }))).Status).toBe(true);
      await expect(src.waitFor(id)).rejects.toMatchObject({ status: "ABORTED", retryable: true });
      await expect(client.send(new GetStatementResultCommand({ Id: id }))).rejects.toThrow(/is ABORTED; results are available once it has FINISHED/);
      await expect(client.send(new DescribeStatementCommand({ Id: "nope" }))).rejects.toMatchObject({ name: "ResourceNotFoundException" });
    } finally {
      await emu.stop();
    }
  });

  it("only a statement's owner describes, reads or cancels it (the roles' statement-owner condition); a measured run's poll gives every field", async () => {
    const emu = new RedshiftDataEmulator();
    const client = new RedshiftDataClient({ ...FAKE, endpoint: await emu.start() });
    await emu.db.exec("CREATE TABLE many AS SELECT g AS id FROM generate_series(1, 100) g");
    const other = new RedshiftDataClient({ region: "us-east-1", credentials: { accessKeyId: "another-role", secretAccessKey: "y" }, endpoint: emu.endpoint });
    const src = new RedshiftSource(client, { workgroupName: "wg", database: "dev", sql: "SELECT id FROM many" }, { minMs: 5 });
    try {
      const id = await src.execute();
      await src.waitFor(id);
      for (const cmd of [new DescribeStatementCommand({ Id: id }), new GetStatementResultCommand({ Id: id }), new CancelStatementCommand({ Id: id })]) {
        await expect(other.send(cmd as never)).rejects.toMatchObject({ name: "AccessDeniedException", message: expect.stringMatching(/^User: another-role is not authorized to perform: redshift-data:/) });
      }
      expect(await src.describe(id)).toEqual({ Status: "FINISHED", ResultSize: expect.any(Number), ResultRows: 100, Error: "", TooLarge: false });
      // Its result through ofStatement, as the measured run's read step reads it.
      let rows = 0;
      for await (const page of src.ofStatement(id).pages()) rows += page.rows.length;
      expect(rows).toBe(100);
    } finally {
      await emu.stop();
    }
  });
});

describe("Redshift source with a mocked Data API", () => {
  it("polls DescribeStatement with backoff until FINISHED and reads ColumnMetadata labels", async () => {
    const mock = mockClient(RedshiftDataClient);
    mock.on(ExecuteStatementCommand).resolves({ Id: "s1" });
    mock
      .on(DescribeStatementCommand)
      .resolvesOnce({ Status: "SUBMITTED" })
      .resolvesOnce({ Status: "PICKED" })
      .resolvesOnce({ Status: "STARTED" })
      .resolves({ Status: "FINISHED", HasResultSet: true, ResultRows: 1 });
    mock.on(GetStatementResultCommand).resolves({
      ColumnMetadata: [{ name: "a", label: "alias_a" }, { name: "b" }],
      Records: [[{ blobValue: new Uint8Array([7]) }, { isNull: true }]],
    });
    const src = new RedshiftSource(new RedshiftDataClient(FAKE), { workgroupName: "wg", database: "dev", sql: "SELECT 1", secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x" }, { minMs: 1, maxMs: 4 });
    const rows = [];
    for await (const p of src.run()) rows.push(...p.rows);
    expect(rows).toEqual([{ alias_a: new Uint8Array([7]), b: null }]);
    expect(mock.commandCalls(DescribeStatementCommand)).toHaveLength(4);
    expect(mock.commandCalls(ExecuteStatementCommand)[0]!.args[0].input).toMatchObject({ WorkgroupName: "wg", Database: "dev", SecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x" });
    mock.restore();
  });

  it("reports ABORTED as retryable and a statement without result set clearly", async () => {
    const mock = mockClient(RedshiftDataClient);
    mock.on(ExecuteStatementCommand).resolves({ Id: "s2" });
    mock.on(DescribeStatementCommand).resolvesOnce({ Status: "ABORTED", Error: "cancelled by user" }).resolves({ Status: "FINISHED", HasResultSet: false });
    const src = new RedshiftSource(new RedshiftDataClient(FAKE), { workgroupName: "wg", database: "dev", sql: "UPDATE x SET y = 1" }, { minMs: 1 });
    const first = src.run().next();
    await expect(first).rejects.toMatchObject({ status: "ABORTED", retryable: true, message: "Redshift statement s2 ABORTED: cancelled by user" });
    await expect(src.run().next()).rejects.toThrow(/returned no result set; the config's SQL must be a SELECT/);
    mock.restore();
  });

  it("a result over the Data API's 500 MB limit (DescribeStatement's ResultSize) ends in one sentence before any page is read", async () => {
    const mock = mockClient(RedshiftDataClient);
    mock.on(ExecuteStatementCommand).resolves({ Id: "s3" });
    mock.on(DescribeStatementCommand).resolves({ Status: "FINISHED", HasResultSet: true, ResultRows: 2_400_000, ResultSize: DATA_API_RESULT_LIMIT_BYTES + 1 });
    const src = new RedshiftSource(new RedshiftDataClient(FAKE), { workgroupName: "wg", database: "dev", sql: "SELECT 1" }, { minMs: 1 });
    const err = await src.run().next().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ResultTooLargeError);
    expect(err).toMatchObject({ retryable: false, rows: 2_400_000, statementId: "s3" });
    expect((err as Error).message).toBe(
      "The query's result is 501 MB (2,400,000 rows), more than the Redshift Data API's 500 MB limit: configure source.unload (at least iamRole) so Redshift writes it to S3 with UNLOAD (docs/scaling.md).",
    );
    expect(mock.commandCalls(GetStatementResultCommand)).toHaveLength(0);
    mock.restore();
  });

  it("the Data API's own refusal of a result over its limit, at GetStatementResult or as a FAILED statement, becomes the same sentence", async () => {
    const mock = mockClient(RedshiftDataClient);
    mock.on(ExecuteStatementCommand).resolves({ Id: "s4" });
    mock.on(DescribeStatementCommand).resolves({ Status: "FINISHED", HasResultSet: true, ResultRows: 10 });
    mock.on(GetStatementResultCommand).rejects(Object.assign(new Error("Database response exceeded size limit"), { name: "ValidationException" }));
    const settings = { workgroupName: "wg", database: "dev", sql: "SELECT 1", extract: "data-api" as const };
    await expect(new RedshiftSource(new RedshiftDataClient(FAKE), settings, { minMs: 1 }).run().next()).rejects.toThrow(
      /^The query's result is over 500 MB \(10 rows\), more than the Redshift Data API's 500 MB limit: set source.extract to auto \(or unload\) and configure source.unload/,
    );
    mock.reset();
    mock.on(ExecuteStatementCommand).resolves({ Id: "s5" });
    mock.on(DescribeStatementCommand).resolves({ Status: "FAILED", Error: "Database response exceeded size limit" });
    await expect(new RedshiftSource(new RedshiftDataClient(FAKE), settings, { minMs: 1 }).run().next()).rejects.toBeInstanceOf(ResultTooLargeError);
    mock.restore();
  });
});
