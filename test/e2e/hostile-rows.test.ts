/**
 * Hostile rows (fast-check) through the local pipeline: each row is either synced exactly or rejected with a
 * reason naming its row and field, no row disappears, and the well-formed rows of the same messages are not
 * affected. The oracle below reads the rows themselves, not the product's mapper.
 */
import { join } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import { openWarehouseDb } from "../../local/warehouse-db.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../functions/core/config.js";
import type { TenantState, TenantUser } from "../../local/auth0-emulator.js";
import { runLocalPipeline } from "../../local/pipeline.js";
import { markWarehouseReady } from "../../local/state-dir.js";
import { tempDir } from "../helpers/tmp.js";

interface HRow {
  id: string | null;
  email: string | null;
  first_name: string | null;
  prefs: string | null;
  app: string | null;
}

const config = validateConfig({
  name: "hostile",
  source: { workgroupName: "wg", database: "dev", sql: "SELECT id, email, first_name, prefs, app FROM people ORDER BY seq" },
  identity: { keyColumn: "id", emailColumn: "email" },
  mapping: { given_name: "first_name", "user_metadata.prefs": { column: "prefs", json: true }, app_metadata: { column: "app", json: true } },
  unmappedColumns: "ignore",
  auth0: { domain: "tenant.emulator.local", connection: "Username-Password-Authentication", maxRetries: 1 },
});

const deep = (depth: number): string => (depth === 0 ? "1" : `{"d":${deep(depth - 1)}}`);
// A warehouse text column cannot hold NUL (PostgreSQL and Redshift refuse it); every other control character.
const CONTROL = "\u0001\u0007\u001b\u007f";
const noNul = (s: string) => s.replaceAll(String.fromCharCode(0), "\u0001");

/** Emails, keys and values a warehouse may really hold when something upstream went wrong. */
function hostileRow(i: number): fc.Arbitrary<HRow> {
  // Valid values weigh more, so that a good share of hostile rows is valid after all and must sync exactly.
  const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
  const email = fc.oneof(
    w(14, fc.constant(`h${i}@example.org`)),
    fc.constant(`  H${i}@Example.ORG `),
    fc.constant(null),
    fc.constant(""),
    fc.constant("not-an-email"),
    fc.constant(`h${i}@@example.org`),
    fc.constant(`h${i}@example`),
    fc.constant(`${"x".repeat(70)}@example.org`),
    fc.constant(`ü${i}@exämple.org`),
    fc.constant(`h${i}${CONTROL[i % 4]}@example.org`),
    fc.string({ maxLength: 30 }).map(noNul),
    // The same email as an earlier hostile row's, in another case, under another key.
    fc.constant(`H${Math.floor(i / 2)}@EXAMPLE.ORG`),
  );
  const id = fc.oneof({ weight: 14, arbitrary: fc.constant(`h-${i}`) }, fc.constant(null), fc.constant(""), fc.constant(" "), fc.constant("h-0"), fc.constant(`h-${i}-${"k".repeat(600)}`), fc.constant(`h-${i}-${"k".repeat(2100)}`), fc.constant(`h-${i}-${"é".repeat(1030)}`));
  const first = fc.oneof(
    w(10, fc.constant(`Hostile${i}`)),
    fc.string({ maxLength: 40 }).map(noNul),
    fc.string({ unit: "grapheme", maxLength: 20 }).map(noNul),
    fc.constant("x".repeat(5000)),
    fc.constant(`bad${CONTROL[i % 4]}name`),
    fc.constant(null),
  );
  const prefs = fc.oneof(
    w(10, fc.constant('{"theme":"dark"}')),
    fc.constant("{"),
    fc.constant("[1,2"),
    fc.constant('{"ui.theme":"dark"}'),
    fc.constant('{"$where":"1"}'),
    fc.constant(deep(40)),
    fc.constant(JSON.stringify({ blob: "y".repeat(11_000) })),
    fc.constant(null),
    fc.json({ maxDepth: 3 }).map(noNul),
  );
  const app = fc.oneof(w(6, fc.constant(null)), w(6, fc.constant('{"tier":"gold"}')), fc.constant('{"blocked":true}'), fc.constant('{"$set":1}'), fc.constant('{"a.b":1}'), fc.constant("42"));
  return fc.record({ id, email, first_name: first, prefs, app });
}

const normalEmail = (e: string) => e.trim().toLowerCase();

describe("hostile rows", () => {
  it("each row is synced exactly or rejected with its row and field; the well-formed rows around them are unaffected", async () => {
    let runs = 0;
    const hostileOutcomes = { synced: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }).chain((seed) => {
          const hostile = fc.tuple(...Array.from({ length: 150 }, (_, i) => hostileRow(i)));
          return hostile.map((rows) => ({ seed, rows }));
        }),
        async ({ seed, rows: hostile }) => {
          runs++;
          // 100 well-formed rows, interleaved: every fifth row of the 250 is hostile-free.
          const rows: { row: HRow; clean: boolean }[] = [];
          let h = 0;
          for (let i = 0; i < 250; i++) {
            if (i % 5 < 2 && rows.filter((r) => r.clean).length < 100) {
              const n = rows.filter((r) => r.clean).length;
              rows.push({ clean: true, row: { id: `ok-${seed}-${n}`, email: `ok${n}@clean.example.com`, first_name: `Clean${n}`, prefs: '{"theme":"light"}', app: '{"tier":"silver"}' } });
            } else {
              rows.push({ clean: false, row: hostile[h++ % hostile.length]! });
            }
          }
          const dir = tempDir();
          const stateDir = join(dir, "state");
          mkdirSync(stateDir, { recursive: true });
          const db = await openWarehouseDb(join(stateDir, "warehouse"));
          await db.exec("CREATE TABLE people (seq int PRIMARY KEY, id text, email text, first_name text, prefs text, app text)");
          for (const [i, { row }] of rows.entries()) {
            await db.query("INSERT INTO people VALUES ($1, $2, $3, $4, $5, $6)", [i + 1, row.id, row.email, row.first_name, row.prefs, row.app]);
          }
          await db.close();
          markWarehouseReady(stateDir, "hostile rows");

          const summary = await runLocalPipeline({ config, stateDir, rate: 500 });
          expect(summary.rowsRead).toBe(250);
          expect(summary.unaccounted).toBe(0);
          expect(summary.deadLettered).toBe(0);
          const rejectedRows = new Map<number, string>();
          for (const r of summary.rejections) {
            const m = /^row (\d+)(?:, key [^:]*)?: ([^:\s][^:]*): /.exec(r);
            expect(m, `a rejection must name its row and field: ${r}`).not.toBeNull();
            expect(rejectedRows.has(Number(m![1])), `row ${m![1]} rejected twice`).toBe(false);
            rejectedRows.set(Number(m![1]), r);
          }
          expect(rejectedRows.size).toBe(summary.rejected);
          const tenant = JSON.parse(readFileSync(join(stateDir, "tenant.json"), "utf8")) as TenantState;
          const byKey = new Map<string, TenantUser>();
          for (const u of tenant.users) {
            const k = u.app_metadata.sync_key as string;
            expect(byKey.has(k), `two users for key ${k}`).toBe(false);
            byKey.set(k, u);
          }
          expect(new Set(tenant.users.map((u) => u.email)).size).toBe(tenant.users.length);
          expect(tenant.users.length + summary.rejected).toBe(250);

          for (const [i, { row, clean }] of rows.entries()) {
            const n = i + 1;
            if (clean) expect(rejectedRows.get(n), `well-formed row ${n}`).toBeUndefined();
            else hostileOutcomes[rejectedRows.has(n) ? "rejected" : "synced"]++;
            if (rejectedRows.has(n)) continue;
            // Synced: exactly what the row says.
            const u = byKey.get(String(row.id).trim());
            expect(u, `row ${n} neither rejected nor synced`).toBeDefined();
            expect(u!.email).toBe(normalEmail(row.email!));
            // The documented rule: empty or blank text counts as NULL, which leaves the field unset on a create.
            const blank = row.first_name === null || row.first_name.trim() === "";
            expect(u!.given_name).toBe(blank ? undefined : row.first_name);
            if (row.prefs !== null) expect(u!.user_metadata.prefs).toEqual(JSON.parse(row.prefs));
            if (row.app !== null) expect(u!.app_metadata).toMatchObject(JSON.parse(row.app));
          }
        },
      ),
      // A counterexample holds 5,000-character strings: report the seed and the assertion, not the whole rows.
      { numRuns: 3, seed: 20261123, endOnFailure: true, includeErrorInReport: true, reporter: (d) => { if (d.failed) throw new Error(`hostile rows failed (seed ${d.seed}, path ${d.counterexamplePath}): ${String(d.errorInstance)}`); } },
    );
    expect(runs).toBe(3);
    // Both branches were exercised: hostile rows that are valid after all, and many that are not.
    expect(hostileOutcomes.synced).toBeGreaterThan(20);
    expect(hostileOutcomes.rejected).toBeGreaterThan(200);
  }, 300_000);
});
