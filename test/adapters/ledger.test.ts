import { describe, expect, it } from "vitest";
import { Ledger, type LedgerEntry } from "../../functions/adapters/ledger/ledger.js";
import { isApplied } from "../../functions/core/decide.js";
import { ensureLedgerTable } from "../../local/dynamo.js";
import { localLedgers } from "../helpers/ledger.js";

const ledgers = localLedgers("ledger");
const freshLedger = () => ledgers.ledger();

const entry = (key: string, over: Partial<LedgerEntry> = {}): LedgerEntry => ({ key, userId: `auth0|${key}`, fingerprint: `fp-${key}`, managed: true, ...over });

describe("ledger on dynalite", () => {
  it("reads many keys in batches of 100, writes in batches of 25, and scans every entry", async () => {
    const ledger = await freshLedger();
    await ledger.users.putMany(Array.from({ length: 260 }, (_, i) => entry(`k${i}`)));
    const got = await ledger.users.getMany([...Array.from({ length: 230 }, (_, i) => `k${i}`), "missing", "k1"]);
    expect(got.size).toBe(230);
    expect(got.get("k7")).toMatchObject({ key: "k7", userId: "auth0|k7", fingerprint: "fp-k7", managed: true });
    let count = 0;
    for await (const _ of ledger.users.all()) count++;
    expect(count).toBe(260);
    await ledger.users.recordOutcome("k7", "rejected", "no such role");
    expect(await ledger.users.get("k7")).toMatchObject({ userId: "auth0|k7", lastOutcome: "rejected", lastReason: "no such role", managed: true });
    await ledger.users.recordOutcome("new", "rejected", "bad");
    expect(await ledger.users.get("new")).toMatchObject({ managed: false, lastOutcome: "rejected" });
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
    await ledger.users.putMany(entries);
    await ledger.runs.put({ runId: "run-1", status: "completed", startedAt: "2026-01-01T00:00:00Z" });
    // The Scan reads every identity (runs apart); which are applied is the core's isApplied.
    const seen = new Map<string, string>();
    let items = 0;
    await ledger.users.scanFingerprints((item) => {
      items++;
      if (item.fingerprint !== undefined && isApplied(item, item.fingerprint)) seen.set(item.key, item.fingerprint);
    }, 4);
    const expected = entries.filter((_, i) => kinds[i % kinds.length] === "applied");
    expect(items).toBe(entries.length);
    expect(seen).toEqual(new Map(expected.map((e) => [e.key, e.fingerprint!])));
    expect(await ledger.users.approximateItemCount()).toBeGreaterThanOrEqual(0);
  });

  it("keeps runs apart from identities, newest first", async () => {
    const ledger = await freshLedger();
    await ledger.runs.put({ runId: "r1", status: "completed", startedAt: "2026-01-01T00:00:00Z" });
    await ledger.runs.put({ runId: "r2", status: "held", startedAt: "2026-01-02T00:00:00Z", heldReason: "too many" });
    await ledger.users.put(entry("a"));
    expect((await ledger.runs.latest()).map((r) => r.runId)).toEqual(["r2", "r1"]);
    expect(await ledger.runs.get("r2")).toMatchObject({ status: "held", heldReason: "too many" });
    let keys = 0;
    for await (const _ of ledger.users.all()) keys++;
    expect(keys).toBe(1);
    expect((await ledger.runs.latest(1)).map((r) => r.runId)).toEqual(["r2"]);
  });

  it("adds the consumers' counts to a run atomically and keeps them when the extractor rewrites the run", async () => {
    const ledger = await freshLedger();
    await ledger.runs.put({ runId: "r", status: "running", startedAt: "2026-01-01T00:00:00Z" });
    await Promise.all(Array.from({ length: 20 }, (_, i) => ledger.runs.addCounts("r", { created: 2, rejected: i % 2, unchanged: 0 })));
    await ledger.runs.put({ runId: "r", status: "completed", startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:01:00Z", summary: { rowsRead: 50, unchanged: 0, rejected: 0, enqueued: 50 } });
    const run = await ledger.runs.get("r");
    expect(run).toMatchObject({ status: "completed", summary: { rowsRead: 50 }, counts: { created: 40, rejected: 10 } });
    expect(run?.counts?.unchanged).toBeUndefined();
    expect((await ledger.runs.latest())[0]?.counts).toEqual({ created: 40, rejected: 10 });
  });

  it("keeps a profile whose metadata holds numbers DynamoDB cannot store, exactly", async () => {
    const ledger = await freshLedger();
    const profile = { key: "n", email: "n@example.com", fields: {}, user_metadata: { big: -3.8625342447404323e74, tiny: 1e-200, precise: 0.1 + 0.2 }, app_metadata: {}, createOnly: [] };
    await ledger.users.put(entry("n", { profile }));
    expect((await ledger.users.get("n"))?.profile).toEqual(profile);
    expect((await ledger.users.getMany(["n"])).get("n")?.profile).toEqual(profile);
  });

  it("records a retry's reason next to the entry without touching what was applied", async () => {
    const ledger = await freshLedger();
    await ledger.users.put(entry("a"));
    await ledger.users.recordFailure("a", "Auth0 answered 503");
    expect(await ledger.users.get("a")).toMatchObject({ userId: "auth0|a", fingerprint: "fp-a", managed: true, lastError: "Auth0 answered 503" });
  });

  it("adds the runs index to a table created before it existed", async () => {
    const { CreateTableCommand } = await import("@aws-sdk/client-dynamodb");
    await ledgers.dynamo().client.send(
      new CreateTableCommand({ TableName: "old-ledger", AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }], KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }], BillingMode: "PAY_PER_REQUEST" }),
    );
    await ensureLedgerTable(ledgers.dynamo().client, "old-ledger");
    const ledger = new Ledger(ledgers.dynamo().client, "old-ledger");
    await ledger.runs.put({ runId: "r1", status: "completed", startedAt: "2026-01-01T00:00:00Z" });
    expect((await ledger.runs.latest()).map((r) => r.runId)).toEqual(["r1"]);
  });
});
