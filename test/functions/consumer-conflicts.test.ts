/**
 * The consumer's decisions when Auth0 disagrees with what the ledger expects: a create that meets a 409 (a race,
 * someone else's user, or our own create whose answer was lost) and a token endpoint that refuses.
 */
import { Metrics } from "@aws-lambda-powertools/metrics";
import { describe, expect, it, vi } from "vitest";
import { packMessages } from "../../functions/adapters/sqs/sender.js";
import type { Ledger } from "../../functions/adapters/ledger/ledger.js";
import type { Auth0Adapter } from "../../functions/adapters/auth0/client.js";
import { createConsumerHandler } from "../../functions/flows/consumer-lambda.js";
import type { SyncConfig } from "../../functions/core/config.js";
import type { OutcomeEvent } from "../../functions/core/outcomes.js";
import { hashKey } from "../../functions/core/profile.js";
import type { Row } from "../../functions/core/types.js";
import type { Auth0Emulator } from "../../local/auth0-emulator.js";
import { testConfig } from "../helpers/config.js";
import { lambdaContext, opsFor, sqsRecord } from "../helpers/consumer.js";
import { adapterFor, bodyText, startEmulator, urlOf } from "../helpers/emulator.js";
import { localLedgers } from "../helpers/ledger.js";

const freshLedger = localLedgers("conflicts").ledger;

const ann: Row = { id: "a", email: "ann@example.com", first: "Ann" };

/** One consumer instance; `fetch` wraps the adapter's HTTP (to lose an answer or fail the token endpoint). */
async function consumer(config: SyncConfig, opts: { ledger?: Ledger; fetch?: (emu: Auth0Emulator) => typeof fetch; maxRetries?: number } = {}) {
  const emu = await startEmulator();
  const auth0 = adapterFor(emu, { maxRetries: opts.maxRetries ?? 2, fetch: opts.fetch?.(emu) });
  const outcomes: OutcomeEvent[] = [];
  const handler = createConsumerHandler(({ logger }) => ({ config, auth0, logger, ledger: opts.ledger, onOutcome: (e) => outcomes.push(e) }));
  const deliver = async (rows: Row[], messageId = "m1") => {
    const [msg] = packMessages("run-1", opsFor(config, rows), 25);
    return handler({ Records: [sqsRecord(messageId, msg!.body)] }, lambdaContext(60_000));
  };
  const writes = () => emu.requestLog.filter((e) => e.method !== "GET" && e.route.startsWith("/api/v2")).map((e) => `${e.method} ${e.route} ${e.status}`);
  return { emu, auth0, outcomes, deliver, writes };
}

/** Someone else creates the same email between our lookup and our create (the race a 409 answers). */
function raceOnCreate(auth0: Auth0Adapter, theirs: Parameters<Auth0Adapter["create"]>[0]): void {
  const original = auth0.create.bind(auth0);
  let raced = false;
  auth0.create = async (body) => {
    if (!raced) {
      raced = true;
      await original(theirs);
    }
    return original(body);
  };
}

const mapping = { mapping: { given_name: "first" }, unmappedColumns: "ignore" as const };

describe("a create that meets a 409", () => {
  it("insert mode: the existing user is not patched; the row is rejected as user_exists", async () => {
    const c = await consumer(testConfig({ ...mapping, mode: "insert" }));
    raceOnCreate(c.auth0, { email: "ann@example.com", given_name: "Theirs" });
    expect(await c.deliver([ann])).toEqual({ batchItemFailures: [] });
    expect(c.outcomes.map((o) => [o.outcome, o.rejection?.code])).toEqual([["rejected", "user_exists"]]);
    expect(c.emu.state().users.map((u) => [u.given_name, u.app_metadata])).toEqual([["Theirs", {}]]);
    expect(c.writes()).toEqual(["POST /api/v2/users 201", "POST /api/v2/users 409"]);
  });

  it("a user synced under another key is never overwritten: identity_conflict", async () => {
    const c = await consumer(testConfig({ ...mapping, mode: "upsert" }));
    raceOnCreate(c.auth0, { email: "ann@example.com", given_name: "Other", app_metadata: { sync_key: "someone-else" } });
    await c.deliver([ann]);
    expect(c.outcomes.map((o) => [o.outcome, o.rejection?.code])).toEqual([["rejected", "identity_conflict"]]);
    expect(c.emu.state().users.map((u) => [u.given_name, u.app_metadata.sync_key])).toEqual([["Other", "someone-else"]]);
    expect(c.writes().filter((w) => w.startsWith("PATCH"))).toEqual([]);
  });

  it("upsert mode adopts an unowned user: one PATCH with the desired profile, keys it does not own kept", async () => {
    const ledger = await freshLedger();
    const c = await consumer(testConfig({ mapping: { given_name: "first", "user_metadata.n": "n" }, unmappedColumns: "ignore" }), { ledger });
    await c.auth0.create({ email: "user1@example.com", given_name: "Stale", user_metadata: { n: 0, theirs: true } });
    c.emu.clearLog();
    await c.deliver([{ id: "k1", email: "user1@example.com", first: "User 1", n: 1 }]);
    expect(c.outcomes.map((o) => o.outcome)).toEqual(["updated"]);
    expect(c.emu.state().users).toHaveLength(1);
    expect(c.emu.state().users[0]).toMatchObject({ given_name: "User 1", user_metadata: { n: 1, theirs: true }, app_metadata: { sync_key: "k1" } });
    expect(c.emu.counters().byEndpoint).toEqual({ "POST /api/v2/users 409": 1, "GET /api/v2/users-by-email 200": 1, "PATCH /api/v2/users/:id 200": 1 });
  });
});

/** The first create of each email lands, but its answer is replaced by a 503 (the write happened; the client cannot tell). */
const loseFirstCreateAnswer = (): typeof fetch => {
  const lost = new Set<string>();
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(urlOf(input));
    if (init?.method === "POST" && url.pathname === "/api/v2/users" && res.status === 201) {
      const email = (JSON.parse(bodyText(init)) as { email: string }).email;
      if (!lost.has(email)) {
        lost.add(email);
        return new Response(JSON.stringify({ statusCode: 503, error: "Service Unavailable", message: "The service is temporarily unavailable" }), { status: 503 });
      }
    }
    return res;
  };
};

describe("our own create whose answer was lost is counted created", () => {
  it("within one call (5xx after the write, 409 on the retry), also in insert mode", async () => {
    for (const mode of ["upsert", "insert"] as const) {
      const ledger = await freshLedger();
      const c = await consumer(testConfig({ ...mapping, mode }), { ledger, fetch: loseFirstCreateAnswer });
      await c.deliver([ann, { id: "b", email: "bob@example.com", first: "Bob" }]);
      expect(c.outcomes.map((o) => o.outcome), mode).toEqual(["created", "created"]);
      expect(c.emu.state().users, mode).toHaveLength(2);
      expect(c.writes().sort(), mode).toEqual(["POST /api/v2/users 201", "POST /api/v2/users 201", "POST /api/v2/users 409", "POST /api/v2/users 409"]);
      expect((await ledger.users.get("a"))?.lastOutcome).toBe("created");
    }
  });

  it("across deliveries (the first delivery ran out of retries after the write landed)", async () => {
    const ledger = await freshLedger();
    const c = await consumer(testConfig(mapping), { ledger, fetch: loseFirstCreateAnswer, maxRetries: 0 });
    expect((await c.deliver([ann])).batchItemFailures).toHaveLength(1);
    expect(c.outcomes).toEqual([]);
    expect(await c.deliver([ann])).toEqual({ batchItemFailures: [] });
    expect(c.outcomes.map((o) => o.outcome)).toEqual(["created"]);
    expect(c.emu.state().users).toHaveLength(1);
  });

  it("with the email as identity, when the user found equals what the create sent", async () => {
    const ledger = await freshLedger();
    const c = await consumer(testConfig({ ...mapping, identity: { emailColumn: "email" }, mode: "insert" }), { ledger, fetch: loseFirstCreateAnswer });
    await c.deliver([ann]);
    expect(c.outcomes.map((o) => o.outcome)).toEqual(["created"]);
  });

  it("with the email as identity, across deliveries too", async () => {
    const ledger = await freshLedger();
    const c = await consumer(testConfig({ ...mapping, identity: { emailColumn: "email" }, mode: "insert" }), { ledger, fetch: loseFirstCreateAnswer, maxRetries: 0 });
    expect((await c.deliver([ann])).batchItemFailures).toHaveLength(1);
    await c.deliver([ann]);
    expect(c.outcomes.map((o) => o.outcome)).toEqual(["created"]);
  });

  it("a recorded failure of a delivery that sent no create is no evidence: insert mode leaves a user with this key alone", async () => {
    const ledger = await freshLedger();
    const c = await consumer(testConfig({ ...mapping, mode: "insert" }), { ledger });
    await c.auth0.create({ email: "ann@example.com", given_name: "Old", app_metadata: { sync_key: "a" } });
    await ledger.users.recordFailure("a", "getting a Management API token failed (HTTP 400)");
    c.emu.clearLog();
    await c.deliver([ann]);
    expect(c.outcomes.map((o) => [o.outcome, o.rejection?.code])).toEqual([["rejected", "user_exists"]]);
    expect(c.writes()).toEqual([]);
    expect(c.emu.state().users[0]?.given_name).toBe("Old");
  });

  it("a user found after a lost ledger (no failed attempt on record) is not counted created", async () => {
    const ledger = await freshLedger();
    const c = await consumer(testConfig(mapping), { ledger });
    await c.auth0.create({ email: "ann@example.com", given_name: "Ann", app_metadata: { sync_key: "a" } });
    await c.deliver([ann]);
    expect(c.outcomes.map((o) => o.outcome)).toEqual(["unchanged"]);
  });
});

describe("the token endpoint", () => {
  it("a 400 from /oauth/token is no row's rejection: the record is retried with a reason naming the token endpoint", async () => {
    const ledger = await freshLedger();
    const badToken = (): typeof fetch => async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (url.endsWith("/oauth/token")) {
        return new Response(JSON.stringify({ error: "invalid_request", error_description: "Invalid audience" }), { status: 400, headers: { "content-type": "application/json" } });
      }
      return fetch(input, init);
    };
    const c = await consumer(testConfig(mapping), { ledger, fetch: badToken });
    expect(await c.deliver([ann])).toEqual({ batchItemFailures: [{ itemIdentifier: "m1" }] });
    expect(c.outcomes).toEqual([]);
    expect((await ledger.users.get("a"))?.lastError).toBe(
      "getting a Management API token failed (HTTP 400): Invalid audience; no row is at fault (check auth0.domain, the client id and secret, and that the application is authorized for the Management API)",
    );
    expect(c.emu.state().users).toEqual([]);
  });

  it("a wrong client secret (401 from /oauth/token) is retried too, never a rejection", async () => {
    const emu = await startEmulator();
    const auth0 = adapterFor(emu, { credentials: { clientId: "local-sync-client", clientSecret: "wrong" } });
    const config = testConfig(mapping);
    const outcomes: OutcomeEvent[] = [];
    const handler = createConsumerHandler(({ logger }) => ({ config, auth0, logger, onOutcome: (e) => outcomes.push(e) }));
    const [msg] = packMessages("run-1", opsFor(config, [ann]), 25);
    expect(await handler({ Records: [sqsRecord("m1", msg!.body)] }, lambdaContext(60_000))).toEqual({ batchItemFailures: [{ itemIdentifier: "m1" }] });
    expect(outcomes).toEqual([]);
  });
});

describe("a ledger write that fails after the Auth0 write", () => {
  it("is logged with the key's hash (never the email), counted in LedgerWriteFailures, and the user retried", async () => {
    const ledger = await freshLedger();
    const emu = await startEmulator();
    const auth0 = adapterFor(emu);
    const config = testConfig(mapping);
    const put = ledger.users.put.bind(ledger.users);
    let failures = 1;
    vi.spyOn(ledger.users, "put").mockImplementation((e) => (failures-- > 0 ? Promise.reject(new Error("ProvisionedThroughputExceededException")) : put(e)));
    const errors: unknown[][] = [];
    const outcomes: OutcomeEvent[] = [];
    const added = vi.spyOn(Metrics.prototype, "addMetric");
    const handler = createConsumerHandler(({ logger }) => {
      vi.spyOn(logger, "error").mockImplementation((...args: unknown[]) => void errors.push(args));
      return { config, auth0, logger, ledger, onOutcome: (e) => outcomes.push(e) };
    });
    const [msg] = packMessages("run-1", opsFor(config, [ann]), 25);
    expect(await handler({ Records: [sqsRecord("m1", msg!.body)] }, lambdaContext(60_000))).toEqual({ batchItemFailures: [{ itemIdentifier: "m1" }] });
    expect(errors).toEqual([["ledger write failed", { runId: "run-1", keyHash: hashKey("a"), write: "the applied profile, after the Auth0 write", error: "ProvisionedThroughputExceededException" }]]);
    expect(JSON.stringify(errors)).not.toContain("ann@example.com");
    expect(added.mock.calls.filter((c) => c[0] === "LedgerWriteFailures").map((c) => c[2])).toEqual([1]);
    expect((await ledger.users.get("a"))?.lastError).toBe("ledger write failed (the applied profile, after the Auth0 write): ProvisionedThroughputExceededException");
    // The retry finds the user Auth0 already has, records it, and counts it once.
    expect(await handler({ Records: [sqsRecord("m1", msg!.body)] }, lambdaContext(60_000))).toEqual({ batchItemFailures: [] });
    expect(outcomes.map((o) => o.outcome)).toEqual(["created"]);
    expect(emu.state().users).toHaveLength(1);
    added.mockRestore();
  });
});
