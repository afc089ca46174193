import { describe, expect, it } from "vitest";
import { Ledger, type LedgerEntry } from "../../functions/adapters/ledger/ledger.js";
import { RunPresence } from "../../functions/core/mirror.js";
import { planMirror } from "../../functions/extractor/extract.js";
import { ensureLedgerTable } from "../../local/dynamo.js";
import { testConfig } from "../helpers/config.js";
import { localLedgers } from "../helpers/ledger.js";

const ledgers = localLedgers("ledger");
const freshLedger = () => ledgers.ledger();

const entry = (key: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({ key, userId: `auth0|${key}`, fingerprint: `fp-${key}`, managed: true, ...over });

describe("ledger on dynalite", () => {
  it("reads many keys in batches of 100, writes in batches of 25, and scans every entry", async () => {
    const ledger = await freshLedger();
    await ledger.putMany(Array.from({ length: 260 }, (_, i) => entry(`k${i}`)));
    const got = await ledger.getMany([...Array.from({ length: 230 }, (_, i) => `k${i}`), "missing", "k1"]);
    expect(got.size).toBe(230);
    expect(got.get("k7")).toMatchObject({ key: "k7", userId: "auth0|k7", fingerprint: "fp-k7", managed: true });
    let count = 0;
    for await (const _ of ledger.entries()) count++;
    expect(count).toBe(260);
    await ledger.recordOutcome("k7", "rejected", "no such role");
    expect(await ledger.get("k7")).toMatchObject({ userId: "auth0|k7", lastOutcome: "rejected", lastReason: "no such role", managed: true });
    await ledger.recordOutcome("new", "rejected", "bad");
    expect(await ledger.get("new")).toMatchObject({ managed: false, lastOutcome: "rejected" });
  });

  it("scans the applied fingerprints in parallel segments: managed, with a user id, not blocked; nothing else", async () => {
    const ledger = await freshLedger();
    const kinds = ["applied", "blocked", "unmanaged", "noUser", "applied"] as const;
    const entries = Array.from({ length: 500 }, (_, i) => {
      const kind = kinds[i % kinds.length]!;
      if (kind === "blocked") return entry(`k${i}`, { blockedAt: "2026-01-01T00:00:00Z" });
      if (kind === "unmanaged") return entry(`k${i}`, { managed: false });
      if (kind === "noUser") return entry(`k${i}`, { userId: undefined });
      return entry(`k${i}`);
    });
    await ledger.putMany(entries);
    await ledger.putRun({ runId: "run-1", status: "completed", startedAt: "2026-01-01T00:00:00Z" });
    const seen = new Map<string, string>();
    const applied = await ledger.scanApplied((k, fp) => seen.set(k, fp), 4);
    const expected = entries.filter((_, i) => kinds[i % kinds.length] === "applied");
    expect(applied).toBe(expected.length);
    expect(seen).toEqual(new Map(expected.map((e) => [e.key, e.fingerprint!])));
    expect(await ledger.approximateItemCount()).toBeGreaterThanOrEqual(0);
  });

  it("keeps runs apart from identities, newest first", async () => {
    const ledger = await freshLedger();
    await ledger.putRun({ runId: "r1", status: "completed", startedAt: "2026-01-01T00:00:00Z" });
    await ledger.putRun({ runId: "r2", status: "held", startedAt: "2026-01-02T00:00:00Z", heldReason: "too many" });
    await ledger.put(entry("a"));
    expect((await ledger.runs()).map((r) => r.runId)).toEqual(["r2", "r1"]);
    expect(await ledger.getRun("r2")).toMatchObject({ status: "held", heldReason: "too many" });
    let keys = 0;
    for await (const _ of ledger.entries()) keys++;
    expect(keys).toBe(1);
    expect((await ledger.runs(1)).map((r) => r.runId)).toEqual(["r2"]);
  });

  it("adds the consumers' counts to a run atomically and keeps them when the extractor rewrites the run", async () => {
    const ledger = await freshLedger();
    await ledger.putRun({ runId: "r", status: "running", startedAt: "2026-01-01T00:00:00Z" });
    await Promise.all(Array.from({ length: 20 }, (_, i) => ledger.addRunCounts("r", { created: 2, rejected: i % 2, unchanged: 0 })));
    await ledger.putRun({ runId: "r", status: "completed", startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:01:00Z", summary: { rowsRead: 50, unchanged: 0, rejected: 0, enqueued: 50 } });
    const run = await ledger.getRun("r");
    expect(run).toMatchObject({ status: "completed", summary: { rowsRead: 50 }, counts: { created: 40, rejected: 10 } });
    expect(run?.counts?.unchanged).toBeUndefined();
    expect((await ledger.runs())[0]?.counts).toEqual({ created: 40, rejected: 10 });
  });

  it("keeps a profile whose metadata holds numbers DynamoDB cannot store, exactly", async () => {
    const ledger = await freshLedger();
    const profile = { key: "n", email: "n@example.com", fields: {}, user_metadata: { big: -3.8625342447404323e74, tiny: 1e-200, precise: 0.1 + 0.2 }, app_metadata: {}, createOnly: [] };
    await ledger.put(entry("n", { profile }));
    expect((await ledger.get("n"))?.profile).toEqual(profile);
    expect((await ledger.getMany(["n"])).get("n")?.profile).toEqual(profile);
  });

  it("records a retry's reason next to the entry without touching what was applied", async () => {
    const ledger = await freshLedger();
    await ledger.put(entry("a"));
    await ledger.recordFailure("a", "Auth0 answered 503");
    expect(await ledger.get("a")).toMatchObject({ userId: "auth0|a", fingerprint: "fp-a", managed: true, lastError: "Auth0 answered 503" });
  });

  it("adds the runs index to a table created before it existed", async () => {
    const { CreateTableCommand } = await import("@aws-sdk/client-dynamodb");
    await ledgers.dynamo().client.send(
      new CreateTableCommand({ TableName: "old-ledger", AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }], KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }], BillingMode: "PAY_PER_REQUEST" }),
    );
    await ensureLedgerTable(ledgers.dynamo().client, "old-ledger");
    const ledger = new Ledger(ledgers.dynamo().client, "old-ledger");
    await ledger.putRun({ runId: "r1", status: "completed", startedAt: "2026-01-01T00:00:00Z" });
    expect((await ledger.runs()).map((r) => r.runId)).toEqual(["r1"]);
  });
});

/** The presence of a run whose rows carry these keys, in order. */
function presenceOf(keys: (string | undefined)[]): RunPresence {
  const p = new RunPresence();
  keys.forEach((k, i) => p.observe(k, i + 1));
  return p;
}

describe("mirror planning", () => {
  const day = 86_400_000;
  it("blocks, deletes or blocks-then-deletes absent managed users only, never ignored or unmanaged ones", async () => {
    const ledger = await freshLedger();
    await ledger.putMany([
      entry("present"),
      entry("absent"),
      entry("blocked-recently", { blockedAt: new Date(Date.now() - 2 * day).toISOString() }),
      entry("blocked-long-ago", { blockedAt: new Date(Date.now() - 40 * day).toISOString() }),
      entry("ignored-key"),
      entry("ignored-email", { profile: { key: "ignored-email", email: "keep@example.com", fields: {}, user_metadata: {}, app_metadata: {}, createOnly: [] } }),
      { key: "unmanaged", managed: false, lastOutcome: "rejected" },
    ]);
    const seen = presenceOf(["present"]);
    const mirror = (action: "block" | "delete" | "block-then-delete") =>
      planMirror(testConfig({ mirror: { enabled: true, action, deleteAfterDays: 30, ignore: ["ignored-key", "KEEP@example.com"], threshold: { maxCount: 100, maxShare: 1 } } }), ledger, seen, false);
    const kinds = async (action: "block" | "delete" | "block-then-delete") => Object.fromEntries((await mirror(action)).ops.map((o) => [o.key, o.kind]));
    expect(await kinds("block")).toEqual({ absent: "block" });
    expect(await kinds("delete")).toEqual({ absent: "delete", "blocked-recently": "delete", "blocked-long-ago": "delete" });
    expect(await kinds("block-then-delete")).toEqual({ absent: "block", "blocked-long-ago": "delete" });
    expect((await mirror("delete")).managed).toBe(6);
  });

  it("holds the run over the count or the share, unless approved", async () => {
    const ledger = await freshLedger();
    await ledger.putMany(Array.from({ length: 10 }, (_, i) => entry(`k${i}`)));
    const seen = presenceOf(["k0", "k1", "k2", "k3", "k4", "k5", "k6"]);
    const plan = (threshold: { maxCount: number; maxShare: number }, approved = false) =>
      planMirror(testConfig({ mirror: { enabled: true, action: "delete", threshold } }), ledger, seen, approved);
    expect(await plan({ maxCount: 100, maxShare: 0.5 })).toMatchObject({ held: false, absent: 3 });
    const byShare = await plan({ maxCount: 100, maxShare: 0.2 });
    expect(byShare).toMatchObject({ held: true, absent: 3, ops: [] });
    expect(byShare.heldReason).toBe("3 of 10 managed users (30.0%) are absent; the threshold is 100 users or 20.0%. Nothing was blocked or deleted: if the table is right, approve with 'auth0-sync run --approve-mirror' (or mirror.approve: true).");
    expect(await plan({ maxCount: 2, maxShare: 1 })).toMatchObject({ held: true });
    expect((await plan({ maxCount: 2, maxShare: 1 }, true)).ops).toHaveLength(3);
  });

  it("holds the run, whatever the threshold or an approval, while a row has no usable key", async () => {
    const ledger = await freshLedger();
    await ledger.putMany(Array.from({ length: 10 }, (_, i) => entry(`k${i}`)));
    const config = testConfig({ mirror: { enabled: true, action: "delete", approve: true, threshold: { maxCount: 100, maxShare: 1 } } });
    const oneUnkeyed = await planMirror(config, ledger, presenceOf(["k0", "k1", undefined, "k2"]), true);
    expect(oneUnkeyed).toMatchObject({ held: true, absent: 7, ops: [] });
    expect(oneUnkeyed.heldReason).toBe(
      "absent users cannot be known: 1 row has an empty or invalid identity key (id): row 3; such a row could be any managed user, so nobody is blocked or deleted until it is fixed.",
    );
    const byEmail = testConfig({ identity: { emailColumn: "email" }, mirror: { enabled: true, action: "block", threshold: { maxCount: 100, maxShare: 1 } } });
    const two = await planMirror(byEmail, ledger, presenceOf(["k0", undefined, undefined]), false);
    expect(two.heldReason).toBe(
      "absent users cannot be known: 2 rows have an empty or invalid email (email), which is the identity, the first at row 2; such a row could be any managed user, so nobody is blocked or deleted until it is fixed.",
    );
    expect((await planMirror(config, ledger, presenceOf(["k0", "k1"]), true)).ops).toHaveLength(8);
  });
});
