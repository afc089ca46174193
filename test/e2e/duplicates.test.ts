/**
 * Two rows sharing an email under two keys: the row whose key the ledger already maps to that email wins, whatever
 * the rows' order. (Before: after the warehouse returned the rows in another order, both were rejected.)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TenantState } from "../../local/auth0-emulator.js";
import { warehouseOf } from "../../functions/core/config.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { demoRows, exampleConfigWith, writeCsv } from "../helpers/demo-csv.js";
import { tempDir } from "../helpers/tmp.js";

describe("duplicates by email", () => {
  it("the key the ledger maps to the email wins, whatever the row order", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    // Rows in the table's order (the example's SQL orders them by key): this test is about the order they come in.
    const config = exampleConfigWith({ source: { sql: warehouseOf(exampleConfigWith()).sql.replace(/\s*ORDER BY customer_id$/, "") } });
    const rows = demoRows(6);
    const twin = { ...rows[1]!, id: "c-0099", first: "Twin" }; // c-0002's email under another key
    const first = await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, [...rows, twin]), rate: 500 });
    expect(first).toMatchObject({ created: 6, rejected: 1, unaccounted: 0 });
    expect(first.rejections).toEqual(["row 7, key c-0099: email: the same email address is already used by row 2 under another key"]);

    // The warehouse now returns the twin first.
    const reordered = await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, [twin, ...rows]), rate: 500 });
    expect(reordered).toMatchObject({ unchanged: 6, rejected: 1, unaccounted: 0 });
    expect(reordered.rejections).toEqual(["row 1, key c-0099: email: the Auth0 user with this email is synced under another identity key"]);
    const users = (JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState).users;
    expect(users.filter((u) => u.email === rows[1]!.email).map((u) => [u.app_metadata.sync_key, u.given_name])).toEqual([["c-0002", "First2"]]);
  }, 60_000);
});
