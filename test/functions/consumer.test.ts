import type { SQSEvent } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { packMessages } from "../../functions/adapters/sqs/sender.js";
import { createConsumerHandler } from "../../functions/flows/consumer-lambda.js";
import type { OutcomeEvent } from "../../functions/core/outcomes.js";
import type { Row } from "../../functions/core/types.js";
import { testConfig } from "../helpers/config.js";
import { lambdaContext, opsFor as opsForConfig, sqsRecord } from "../helpers/consumer.js";
import { adapterFor, startEmulator } from "../helpers/emulator.js";
import { Ledger } from "../../functions/adapters/ledger/ledger.js";
import { ensureLedgerTable, startDynamo } from "../../local/dynamo.js";

const config = testConfig({ mapping: { given_name: "first" }, roles: { column: "roles" }, unmappedColumns: "ignore" });

const opsFor = (rows: Row[]) => opsForConfig(config, rows);
const record = sqsRecord;
const context = lambdaContext;

async function setup(opts: { failRate?: number; maxRetries?: number } = {}) {
  const emu = await startEmulator({ roles: ["admin", "viewer"], faults: { failRate: opts.failRate ?? 0 } });
  const auth0 = adapterFor(emu, { maxRetries: opts.maxRetries ?? 2 });
  const outcomes: OutcomeEvent[] = [];
  const handler = createConsumerHandler(({ logger }) => ({ config, auth0, logger, onOutcome: (e) => outcomes.push(e) }));
  return { emu, auth0, outcomes, handler };
}

describe("consumer handler", () => {
  it("creates, leaves unchanged, and rejects with a reason, per user; the record succeeds", async () => {
    const { emu, outcomes, handler } = await setup();
    const ops = opsFor([
      { id: "a", email: "a@example.com", first: "Ann", roles: "admin" },
      { id: "b", email: "b@example.com", first: "Bob", roles: "ghost" },
    ]);
    const [msg] = packMessages("run-1", ops, 25);
    const event: SQSEvent = { Records: [record("m1", msg!.body)] };
    expect(await handler(event, context(60_000))).toEqual({ batchItemFailures: [] });
    const byKey = Object.fromEntries(outcomes.map((o) => [o.key, o]));
    expect(byKey.a?.outcome).toBe("created");
    // An unknown role rejects the row before anything is written.
    expect(byKey.b?.outcome).toBe("rejected");
    expect(byKey.b?.rejection).toMatchObject({ code: "unknown_role", field: "roles", row: 2, reason: "unknown role: ghost (not defined in the tenant)" });
    expect(emu.state().users.map((u) => [u.email, u.roles])).toEqual([["a@example.com", ["admin"]]]);
    // Delivered again (as after a partial failure): nothing to write.
    outcomes.length = 0;
    emu.clearLog();
    await handler(event, context(60_000));
    expect(Object.fromEntries(outcomes.map((o) => [o.key, o.outcome]))).toEqual({ a: "unchanged", b: "rejected" });
    expect(emu.requestLog.filter((e) => e.method !== "GET" && e.route.startsWith("/api/v2"))).toEqual([]);
  });

  it("reports a malformed message with its id and reason and fails only that record", async () => {
    const { handler, outcomes } = await setup();
    const [good] = packMessages("run-1", opsFor([{ id: "a", email: "a@example.com", first: "Ann", roles: null }]), 25);
    const res = await handler({ Records: [record("bad-1", '{"v":1,"runId":"r","ops":"nope"}'), record("good-1", good!.body)] }, context(60_000));
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: "bad-1" }] });
    expect(outcomes.map((o) => o.outcome)).toEqual(["created"]);
  });

  it("fails the record retryably on a passing Auth0 failure; the users already applied are unchanged next time", async () => {
    const { emu, handler, outcomes } = await setup({ failRate: 1, maxRetries: 0 });
    const [msg] = packMessages("run-1", opsFor([{ id: "a", email: "a@example.com", first: "Ann", roles: null }]), 25);
    const event: SQSEvent = { Records: [record("m1", msg!.body)] };
    expect(await handler(event, context(60_000))).toEqual({ batchItemFailures: [{ itemIdentifier: "m1" }] });
    expect(outcomes).toEqual([]);
    emu.setFaults({ failRate: 0 });
    expect(await handler(event, context(60_000))).toEqual({ batchItemFailures: [] });
    expect(outcomes.map((o) => o.outcome)).toEqual(["created"]);
  });

  it("starts no Auth0 write when the Lambda is nearly out of time, and fails the record retryably", async () => {
    const { emu, handler } = await setup();
    const [msg] = packMessages("run-1", opsFor([{ id: "a", email: "a@example.com", first: "Ann", roles: null }]), 25);
    emu.clearLog();
    const res = await handler({ Records: [record("m1", msg!.body)] }, context(2_000));
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: "m1" }] });
    expect(emu.requestLog.filter((e) => e.route.startsWith("/api/v2"))).toHaveLength(0);
  });

  it("with the ledger, a redelivered message finds its users applied and makes no call; a change is one PATCH", async () => {
    const dynamo = await startDynamo();
    try {
      await ensureLedgerTable(dynamo.client, "consumer-ledger");
      const ledger = new Ledger(dynamo.client, "consumer-ledger");
      const emu = await startEmulator({ roles: ["admin", "viewer"] });
      const auth0 = adapterFor(emu);
      const handler = createConsumerHandler(({ logger }) => ({ config, auth0, logger, ledger }));
      const rows = [
        { id: "a", email: "a@example.com", first: "Ann", roles: "admin" },
        { id: "b", email: "b@example.com", first: "Bob", roles: null },
      ];
      const [msg] = packMessages("run-1", opsFor(rows), 25);
      await handler({ Records: [record("m1", msg!.body)] }, context(60_000));
      expect(await ledger.users.get("a")).toMatchObject({ managed: true, userId: expect.stringMatching(/^auth0\|/), lastOutcome: "created" });
      emu.clearLog();
      await handler({ Records: [record("m1", msg!.body)] }, context(60_000));
      expect(emu.requestLog).toEqual([]);
      const [changed] = packMessages("run-2", opsFor([{ ...rows[0]!, first: "Anna" }, rows[1]!]), 25);
      await handler({ Records: [record("m2", changed!.body)] }, context(60_000));
      expect(emu.requestLog.map((e) => `${e.method} ${e.route} ${e.status}`)).toEqual(["PATCH /api/v2/users/:id 200"]);
      expect(emu.state().users.find((u) => u.email === "a@example.com")?.given_name).toBe("Anna");
      // Each user counts once for its run, whatever the number of deliveries.
      expect((await ledger.runs.get("run-1"))?.counts).toEqual({ created: 2 });
      expect((await ledger.runs.get("run-2"))?.counts).toEqual({ updated: 1, unchanged: 1 });
    } finally {
      await dynamo.stop();
    }
  });

  it("counts a user settled before its record failed once, and records why the others will be retried", async () => {
    const dynamo = await startDynamo();
    try {
      await ensureLedgerTable(dynamo.client, "retry-ledger");
      const ledger = new Ledger(dynamo.client, "retry-ledger");
      const emu = await startEmulator({ roles: ["admin", "viewer"] });
      const auth0 = adapterFor(emu, { maxRetries: 0 });
      const handler = createConsumerHandler(({ logger }) => ({ config, auth0, logger, ledger, parallelism: 1 }));
      const [msg] = packMessages("run-r", opsFor([{ id: "a", email: "a@example.com", first: "Ann", roles: null }, { id: "b", email: "b@example.com", first: "Bob", roles: null }]), 25);
      // The first user lands; then every answer is a 5xx, so the second fails and the record is retried.
      let writes = 0;
      const original = auth0.create.bind(auth0);
      auth0.create = async (...args: Parameters<typeof auth0.create>) => {
        if (++writes === 2) emu.setFaults({ failRate: 1, failAfterWriteShare: 0 });
        return original(...args);
      };
      const first = await handler({ Records: [record("m1", msg!.body)] }, context(60_000));
      expect(first.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
      expect((await ledger.runs.get("run-r"))?.counts).toEqual({ created: 1 });
      expect((await ledger.users.get("b"))?.lastError).toMatch(/Auth0 answered 5\d\d/);
      emu.setFaults({ failRate: 0 });
      expect(await handler({ Records: [record("m1", msg!.body)] }, context(60_000))).toEqual({ batchItemFailures: [] });
      expect((await ledger.runs.get("run-r"))?.counts).toEqual({ created: 2 });
    } finally {
      await dynamo.stop();
    }
  });

  it("two deliveries of one user in one run, processed at once by two instances, count it once (the ledger write tells which came second)", async () => {
    const dynamo = await startDynamo();
    try {
      await ensureLedgerTable(dynamo.client, "race-ledger");
      const ledger = new Ledger(dynamo.client, "race-ledger");
      const emu = await startEmulator({ roles: ["admin", "viewer"] });
      const auth0 = adapterFor(emu);
      const instance = () => createConsumerHandler(({ logger }) => ({ config, auth0, logger, ledger }));
      const [msg] = packMessages("run-race", opsFor([{ id: "a", email: "a@example.com", first: "Ann", roles: null }]), 25);
      // Both read the ledger before either writes it: neither sees the other's settlement up front.
      await Promise.all([instance()({ Records: [record("m1", msg!.body)] }, context(60_000)), instance()({ Records: [record("m1-again", msg!.body)] }, context(60_000))]);
      expect(emu.state().users).toHaveLength(1);
      const counts = (await ledger.runs.get("run-race"))?.counts ?? {};
      expect(Object.values(counts).reduce((a, b) => a + (b ?? 0), 0)).toBe(1);
    } finally {
      await dynamo.stop();
    }
  });
});
