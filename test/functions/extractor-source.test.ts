/**
 * The extractor reads rows through the RowSource port (core/source.ts): any source will do, here one in memory.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { describe, expect, it } from "vitest";
import type { UserOperation } from "../../functions/adapters/sqs/message.js";
import type { Page, RowSource } from "../../functions/core/source.js";
import { runExtract as extract } from "../../functions/flows/extract-run.js";
import { testConfig } from "../helpers/config.js";

/** Rows held in memory, handed over in pages of `size`. */
class MemorySource implements RowSource {
  readonly resultRows: number;
  constructor(
    private readonly columns: string[],
    private readonly rows: Record<string, string>[],
    private readonly size: number,
  ) {
    this.resultRows = rows.length;
  }
  async *pages(): AsyncGenerator<Page> {
    for (let i = 0; i < this.rows.length; i += this.size) yield { columns: this.columns, rows: this.rows.slice(i, i + this.size) };
  }
}

describe("the extractor and its row source", () => {
  it("maps, rejects and hands on the rows of an in-memory source, checking its columns like any other", async () => {
    const rows = Array.from({ length: 7 }, (_, i) => ({ id: `k${i}`, email: i === 3 ? "nope" : `u${i}@example.com`, first: `F${i}` }));
    const config = testConfig({ mapping: { given_name: "first" }, unmappedColumns: "ignore" });
    const deps = { config, logger: new Logger({ logLevel: "SILENT" }), metrics: new Metrics({ namespace: "t" }) };
    const ops: UserOperation[] = [];
    const res = await extract({ ...deps, source: new MemorySource(["id", "email", "first"], rows, 3), dryRun: { onOperation: (op) => void ops.push(op) } });
    expect(res).toMatchObject({ rowsRead: 7, rejected: 1, enqueued: 6 });
    expect(ops.map((o) => (o.kind === "sync" ? o.desired.fields.given_name : undefined))).toEqual(["F0", "F1", "F2", "F4", "F5", "F6"]);
    await expect(extract({ ...deps, source: new MemorySource(["id", "mail", "first"], rows, 3), dryRun: { onOperation: () => undefined } })).rejects.toThrow(
      "The statement does not return every column the config names: identity.emailColumn names the column 'email'; it returns id, mail, first.",
    );
  });
});
