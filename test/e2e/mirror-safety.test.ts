/**
 * Mirror mode never acts on a user whose row is still in the table, whatever became of the row: one bad import in
 * the warehouse must never block or delete the people it lists. Through the local pipeline.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TenantState } from "../../local/auth0-emulator.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { tempDir } from "../helpers/tmp.js";
import { demoRows, exampleConfigWith, writeCsv, type Row } from "../helpers/demo-csv.js";

const usersOf = (stateDir: string) => (JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState).users;

describe("mirror mode and rows that are present but invalid", () => {
  it("key column: an invalid row keeps its user; a row without a key holds the run, approved or not; fixed, the absent user goes", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    const config = exampleConfigWith({ mirror: { enabled: true, action: "delete", threshold: { maxCount: 1000, maxShare: 0.9 } } });
    const run = (rows: Row[], approveMirror = false) => runLocalPipeline({ config, stateDir, csv: writeCsv(csv, rows), rate: 500, approveMirror });
    const all = demoRows(40);
    expect(await run(all)).toMatchObject({ created: 40, unaccounted: 0 });
    const c7 = usersOf(stateDir).find((u) => u.app_metadata.sync_key === "c-0007")!;

    // The email of c-0007 becomes malformed: the row is rejected, and its user is neither deleted nor blocked.
    const broken = all.map((r) => (r.id === "c-0007" ? { ...r, email: "broken-email" } : r));
    const r2 = await run(broken);
    expect(r2).toMatchObject({ rowsRead: 40, rejected: 1, unchanged: 39, deleted: 0, blocked: 0, held: false, unaccounted: 0 });
    expect(r2.rejections).toEqual(["row 7, key c-0007: email: is not a valid email address"]);
    expect(usersOf(stateDir).find((u) => u.user_id === c7.user_id)).toMatchObject({ email: "user7@example.com" });
    expect(usersOf(stateDir).find((u) => u.user_id === c7.user_id)?.blocked ?? false).toBe(false);

    // A row without a key could be anyone: with c-0020 gone too, nobody is deleted, even with approval. (Its empty
    // key sorts last in the example's ORDER BY: row 39.)
    const unkeyed = broken.map((r) => (r.id === "c-0009" ? { ...r, id: "" } : r)).filter((r) => r.id !== "c-0020");
    for (const approve of [false, true]) {
      const held = await run(unkeyed, approve);
      expect(held, `approved: ${approve}`).toMatchObject({ held: true, deleted: 0, blocked: 0, unaccounted: 0 });
      expect(held.heldReason).toBe(
        "absent users cannot be known: 1 row has an empty or invalid identity key (customer_id): row 39; such a row could be any managed user, so nobody is blocked or deleted until it is fixed.",
      );
      expect(held.rejections).toContain("row 39: customer_id: is empty; the identity key column must have a value");
      expect(usersOf(stateDir)).toHaveLength(40);
    }

    // Key fixed: exactly the absent user goes; c-0007, still invalid, stays.
    const fixed = broken.filter((r) => r.id !== "c-0020");
    const r4 = await run(fixed);
    expect(r4).toMatchObject({ deleted: 1, held: false, rejected: 1, unaccounted: 0 });
    const after = usersOf(stateDir);
    expect(after).toHaveLength(39);
    expect(after.map((u) => u.app_metadata.sync_key)).not.toContain("c-0020");
    expect(after.map((u) => u.app_metadata.sync_key)).toContain("c-0007");
  }, 120_000);

  it("email as identity: a row whose email turned invalid hides who is absent, so the run blocks nobody", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const csv = join(dir, "users.csv");
    const config = exampleConfigWith({
      identity: { keyColumn: undefined },
      mirror: { enabled: true, action: "block", threshold: { maxCount: 1000, maxShare: 0.9 } },
    });
    expect(config.identity.keyColumn).toBeUndefined();
    const all = demoRows(10);
    expect(await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, all), rate: 500 })).toMatchObject({ created: 10 });
    const broken = all.map((r) => (r.id === "c-0004" ? { ...r, email: "user4-at-example.com" } : r));
    const r = await runLocalPipeline({ config, stateDir, csv: writeCsv(csv, broken), rate: 500 });
    expect(r).toMatchObject({ rejected: 1, blocked: 0, held: true, unaccounted: 0 });
    expect(r.heldReason).toMatch(/^absent users cannot be known: 1 row has an empty or invalid email \(email\), which is the identity: row 4;/);
    expect(r.rejections).toEqual(["row 4: email: is not a valid email address"]);
    expect(usersOf(stateDir).filter((u) => u.blocked)).toEqual([]);
  }, 60_000);
});
